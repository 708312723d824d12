package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// movedBridgeKeys are the keys of a bridge entry that moved to the common
// keys: the old ones are still read, with a deprecation warning. A tls
// section moves from the type's own section only (a webhook's webhook.tls;
// kafka.tls of a webhook bridge is not its key).
var movedBridgeKeys = []struct{ old, now string }{
	{"producer.batch_size", "batch_size"},
	{"producer.send_timeout", "send_timeout"},
	{"kafka.tls", "tls"},
	{"redis.tls", "tls"},
	{"mqtt.tls", "tls"},
	{"webhook.tls", "tls"},
}

// bridgeEntry prepares the decoding of the bridge entry n onto v: the
// settings of its type (the type key is read first, wherever it stands),
// and the deprecated keys moved to where they are now, each with a
// warning. Decoding a legacy bridges.json entry also drops the sections of
// the other types, which that format wrote for every bridge.
func (d *decoder) bridgeEntry(n *yaml.Node, v reflect.Value, key string) {
	if n.Kind != yaml.MappingNode {
		return
	}
	b := v.Addr().Interface().(*Bridge)
	if tn := mappingValue(n, "type"); tn != nil && tn.Kind == yaml.ScalarNode {
		if isNull(tn) {
			// Left to the field decoder, null would read as the type "null"
			// over the default type's settings.
			d.fail(tn, ErrBadValue, join(key, "type"), "null: name a bridge type or leave the key out")
			tn.Value, tn.Tag = b.Type, "!!str"
		} else {
			b.Type = tn.Value
		}
	}
	b.syncSettings()
	for _, m := range movedBridgeKeys {
		section, child, _ := strings.Cut(m.old, ".")
		parent := mappingValue(n, section)
		if parent == nil || parent.Kind != yaml.MappingNode || (m.now == "tls" && !b.ownsKey(section)) {
			continue
		}
		i := mappingIndex(parent, child)
		if i < 0 {
			continue
		}
		kn, vn := parent.Content[i], parent.Content[i+1]
		parent.Content = slices.Delete(parent.Content, i, i+2)
		if j := mappingIndex(n, section); len(parent.Content) == 0 && !b.ownsKey(section) {
			n.Content = slices.Delete(n.Content, j, j+2)
		}
		if mappingIndex(n, m.now) >= 0 {
			d.fail(kn, ErrBadValue, join(key, m.old), "deprecated, and %s is set too: keep only %s",
				join(key, m.now), join(key, m.now))
			continue
		}
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: m.now, Line: kn.Line}, vn)
		if !d.legacy {
			d.warns = append(d.warns, &KeyError{Source: d.name, Line: kn.Line, Key: join(key, m.old),
				Msg: "deprecated: use " + join(key, m.now), Err: ErrDeprecated})
		}
	}
	if d.legacy {
		for i := 0; i+1 < len(n.Content); {
			k := n.Content[i].Value
			if !slices.ContainsFunc(fields(v), func(f field) bool { return f.name == k }) {
				n.Content = slices.Delete(n.Content, i, i+2)
				continue
			}
			i += 2
		}
	}
}

// mappingIndex returns the index of key's key node in the mapping n, or -1.
func mappingIndex(n *yaml.Node, key string) int {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Kind == yaml.ScalarNode && n.Content[i].Value == key {
			return i
		}
	}
	return -1
}

// mappingValue returns key's value in the mapping n, or nil.
func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if i := mappingIndex(n, key); i >= 0 {
		return n.Content[i+1]
	}
	return nil
}

// movedBridgeEnv lists the deprecated variables of bridge 0 (those of the
// moved keys, leaf by leaf) and the key each sets now.
func movedBridgeEnv() map[string]string {
	out := map[string]string{}
	for _, m := range movedBridgeKeys {
		now := "bridges.0." + m.now
		if m.now != "tls" {
			out[EnvName("bridges.0."+m.old)] = now
			continue
		}
		leafKeys(reflect.TypeFor[ClientTLS](), "", func(leaf string) {
			out[EnvName("bridges.0."+m.old+"."+leaf)] = now + "." + leaf
		})
	}
	return out
}

// applyMovedEnv applies the deprecated bridge variables of env (before the
// current ones, which win), each with a warning.
func applyMovedEnv(c *Config, env map[string]string, at origins) errorList {
	var errs errorList
	moved := movedBridgeEnv()
	names := make([]string, 0, len(moved))
	for name := range moved {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		val, ok := env[name]
		if !ok {
			continue
		}
		key := moved[name]
		c.Warnings = append(c.Warnings, &KeyError{Source: "env " + name, Key: key, Err: ErrDeprecated,
			Msg: "set by a deprecated variable: use " + EnvName(key)})
		errs = setFromEnv(c, at, key, name, val, errs)
	}
	return errs
}

// DecodeBridge decodes a bridge entry in JSON (the HTTP API's bridge
// definition) onto DefaultBridge, strictly: an unknown key, or a key of
// another type, is an error naming it. Deprecated keys are read and
// reported in warnings. Key paths are relative to the entry. It does not
// validate (ValidateBridge).
func DecodeBridge(data []byte) (Bridge, []*KeyError, error) {
	return decodeBridge(data, false)
}

// DecodeLegacyBridge decodes an entry of a version 1 bridges.json, whose
// entries held every type's section: those of other types are dropped,
// the moved keys moved, without warnings.
func DecodeLegacyBridge(data []byte) (Bridge, error) {
	b, _, err := decodeBridge(data, true)
	return b, err
}

func decodeBridge(data []byte, legacy bool) (Bridge, []*KeyError, error) {
	b := DefaultBridge()
	n, err := jsonNode(data)
	if err != nil {
		return b, nil, &KeyError{Msg: err.Error(), Err: ErrSyntax}
	}
	if n.Kind != yaml.MappingNode {
		return b, nil, &KeyError{Msg: "a bridge is a JSON object, got " + kindName(n), Err: ErrBadValue}
	}
	d := &decoder{at: origins{}, budget: nodesPerByte*len(data) + 1000, legacy: legacy}
	d.value(n, reflect.ValueOf(&b).Elem(), "")
	return b, d.warns, d.errs.join()
}

// maxJSONDepth bounds the nesting of a JSON bridge definition.
const maxJSONDepth = 64

// jsonNode turns one JSON value into a YAML node tree (keys in order), so
// that JSON definitions go through the file's strict decoder.
func jsonNode(data []byte) (*yaml.Node, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	n, err := jsonValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("data after the JSON value")
	}
	return n, nil
}

func jsonValue(dec *json.Decoder, depth int) (*yaml.Node, error) {
	if depth > maxJSONDepth {
		return nil, fmt.Errorf("nested deeper than %d", maxJSONDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	switch t := tok.(type) {
	case json.Delim:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		if t == '{' {
			n.Kind, n.Tag = yaml.MappingNode, "!!map"
		}
		for dec.More() {
			if n.Kind == yaml.MappingNode {
				k, err := dec.Token()
				if err != nil {
					return nil, fmt.Errorf("not JSON: %w", err)
				}
				n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: fmt.Sprint(k)})
			}
			v, err := jsonValue(dec, depth+1)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, v)
		}
		if _, err := dec.Token(); err != nil {
			return nil, fmt.Errorf("not JSON: %w", err)
		}
		return n, nil
	case string:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: t}, nil
	case json.Number:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: t.String()}, nil
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: fmt.Sprint(t)}, nil
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}, nil
}

// MarshalJSON writes the bridge as the JSON form of its entry: the common
// keys and its type's, secrets included (data_dir/bridges.json).
func (b Bridge) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	err := nodeJSON(&buf, encodeNode(reflect.ValueOf(b), false))
	return buf.Bytes(), err
}

// RedactedJSON is MarshalJSON with every set secret written as
// "<redacted>" (the HTTP API's answers).
func (b Bridge) RedactedJSON() ([]byte, error) {
	var buf bytes.Buffer
	err := nodeJSON(&buf, encodeNode(reflect.ValueOf(b), true))
	return buf.Bytes(), err
}

// UnmarshalJSON decodes as DecodeBridge does, ignoring its warnings.
func (b *Bridge) UnmarshalJSON(data []byte) error {
	nb, _, err := DecodeBridge(data)
	if err != nil {
		return err
	}
	*b = nb
	return nil
}

// nodeJSON writes the node tree of encodeNode as JSON.
func nodeJSON(w *bytes.Buffer, n *yaml.Node) error {
	switch n.Kind {
	case yaml.MappingNode, yaml.SequenceNode:
		open, end := byte('['), byte(']')
		if n.Kind == yaml.MappingNode {
			open, end = '{', '}'
		}
		w.WriteByte(open)
		for i, c := range n.Content {
			switch {
			case i == 0:
			case n.Kind == yaml.MappingNode && i%2 == 1:
				w.WriteByte(':')
			default:
				w.WriteByte(',')
			}
			if err := nodeJSON(w, c); err != nil {
				return err
			}
		}
		w.WriteByte(end)
		return nil
	}
	switch n.Tag {
	case "!!bool", "!!int":
		w.WriteString(n.Value)
		return nil
	}
	e := json.NewEncoder(w)
	e.SetEscapeHTML(false)
	if err := e.Encode(n.Value); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	w.Truncate(w.Len() - 1) // Encode's newline
	return nil
}
