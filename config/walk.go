package config

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// This file holds the one reflection walker behind the environment
// variables, Set, EnvVars, Diff and the file decoder. It runs at load time
// only. Key paths are the yaml tags joined by dots; a list of structs takes
// an index ("listeners.tcp.0.address").

// EnvPrefix starts the name of every environment variable read by Load.
const EnvPrefix = "IOTHUB_"

// EnvVar describes one environment variable read by Load.
type EnvVar struct {
	// Name is the variable, e.g. IOTHUB_MQTT_MAX_INFLIGHT.
	Name string
	// Key is the key path it sets, e.g. mqtt.max_inflight.
	Key string
	// Default is the default value, formatted as the variable would hold it.
	Default string
	// Doc is the one-line description from Example.
	Doc string
}

var (
	durationType = reflect.TypeFor[Duration]()
	secretType   = reflect.TypeFor[Secret]()
)

// elemDefaults gives the value each new element of a list of structs starts from.
var elemDefaults = map[reflect.Type]func() any{
	reflect.TypeFor[TCPListener](): func() any { return DefaultTCPListener() },
	reflect.TypeFor[WSListener]():  func() any { return DefaultWSListener() },
	reflect.TypeFor[TLSListener](): func() any { return DefaultTLSListener() },
	reflect.TypeFor[WSSListener](): func() any { return DefaultWSSListener() },
}

// field is one key of a struct value: its yaml name and its value
// (addressable when the struct is).
type field struct {
	name string
	v    reflect.Value
}

// keyKind is how a struct field stands among the YAML keys.
type keyKind int

const (
	keySkip      keyKind = iota // unexported, or yaml:"-"
	keyInlineAny                // an inline interface: the keys of what it holds
	keyInline                   // an inline struct: its keys
	keyPlain                    // one key
)

// yamlKey returns the key name of struct field f and how it stands.
func yamlKey(f reflect.StructField) (string, keyKind) {
	name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	switch {
	case !f.IsExported() || name == "-":
		return name, keySkip
	case opts == "inline" && f.Type.Kind() == reflect.Interface:
		return name, keyInlineAny
	case opts == "inline":
		return name, keyInline
	}
	return name, keyPlain
}

// fields lists the keys of the struct value v, flattening inline structs
// and the value held by an inline interface (a bridge's type settings:
// the keys of its concrete type).
func fields(v reflect.Value) []field {
	t := v.Type()
	var out []field
	for i := range t.NumField() {
		switch name, kind := yamlKey(t.Field(i)); kind {
		case keySkip:
		case keyInlineAny:
			if fv := v.Field(i); !fv.IsNil() {
				out = append(out, fields(fv.Elem().Elem())...)
			}
		case keyInline:
			out = append(out, fields(v.Field(i))...)
		case keyPlain:
			out = append(out, field{name, v.Field(i)})
		}
	}
	return out
}

// keyType is one key of a struct type: its yaml name and its type.
type keyType struct {
	name string
	t    reflect.Type
}

// keysOf lists the keys of struct type t, flattening inline structs; an
// inline interface contributes the keys of every type it may hold
// (inlineTypes), each name once.
func keysOf(t reflect.Type) []keyType {
	var out []keyType
	seen := map[string]bool{}
	add := func(k keyType) {
		if !seen[k.name] {
			seen[k.name] = true
			out = append(out, k)
		}
	}
	for i := range t.NumField() {
		f := t.Field(i)
		switch name, kind := yamlKey(f); kind {
		case keySkip:
		case keyInlineAny:
			for _, it := range inlineTypes(f.Type) {
				for _, k := range keysOf(it) {
					add(k)
				}
			}
		case keyInline:
			for _, k := range keysOf(f.Type) {
				add(k)
			}
		case keyPlain:
			add(keyType{name, f.Type})
		}
	}
	return out
}

func isStructList(t reflect.Type) bool {
	return t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// newElem returns an addressable new element of a list of structs of type t.
func newElem(t reflect.Type) reflect.Value {
	v := reflect.New(t).Elem()
	if f, ok := elemDefaults[t]; ok {
		v.Set(reflect.ValueOf(f()))
	}
	return v
}

// leafKeys calls fn with every scalar key of type t under prefix, in field
// order; a list of structs contributes the keys of its element 0.
func leafKeys(t reflect.Type, prefix string, fn func(key string)) {
	switch {
	case t.Kind() == reflect.Struct && t != durationType:
		for _, k := range keysOf(t) {
			leafKeys(k.t, join(prefix, k.name), fn)
		}
	case isStructList(t):
		leafKeys(t.Elem(), join(prefix, "0"), fn)
	default:
		fn(prefix)
	}
}

// lookup returns the settable scalar at key under root (a struct). With
// create, an index equal to a list's length appends a new element.
func lookup(root reflect.Value, key string, create bool) (reflect.Value, error) {
	v := root
	for part := range strings.SplitSeq(key, ".") {
		switch {
		case v.Kind() == reflect.Struct && v.Type() != durationType:
			fs := fields(v)
			i := slices.IndexFunc(fs, func(f field) bool { return f.name == part })
			if i < 0 {
				return v, &KeyError{Key: key, Err: ErrUnknownKey, Msg: foreignKey(v, part)}
			}
			v = fs[i].v
		case isStructList(v.Type()):
			i, err := strconv.Atoi(part)
			switch {
			case err != nil || i < 0 || i > v.Len() || (i == v.Len() && !create):
				return v, &KeyError{Key: key, Err: ErrUnknownKey,
					Msg: "list index out of range, have " + strconv.Itoa(v.Len())}
			case i == v.Len():
				v.Set(reflect.Append(v, newElem(v.Type().Elem())))
			}
			v = v.Index(i)
		default:
			return v, &KeyError{Key: key, Err: ErrUnknownKey}
		}
	}
	if v.Kind() == reflect.Struct && v.Type() != durationType || isStructList(v.Type()) {
		return v, &KeyError{Key: key, Err: ErrUnknownKey, Msg: "a section, not a setting"}
	}
	return v, nil
}

// setScalar parses s into the scalar v. A list of strings takes a
// comma-separated value.
func setScalar(v reflect.Value, s string) error {
	t := strings.TrimSpace(s)
	switch {
	case v.Type() == durationType:
		return v.Addr().Interface().(*Duration).UnmarshalText([]byte(t))
	case v.Kind() == reflect.String:
		v.SetString(s)
	case v.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(t)
		if err != nil {
			return fmt.Errorf("expected true or false, got %q", s)
		}
		v.SetBool(b)
	case v.Kind() == reflect.Int:
		n, err := strconv.ParseInt(t, 0, 64)
		if err != nil || v.OverflowInt(n) {
			return fmt.Errorf("expected an integer, got %q", s)
		}
		v.SetInt(n)
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String:
		var list []string
		for item := range strings.SplitSeq(s, ",") {
			if item = strings.TrimSpace(item); item != "" {
				list = append(list, item)
			}
		}
		v.Set(reflect.ValueOf(list))
	default:
		return fmt.Errorf("cannot set a %s", v.Type())
	}
	return nil
}

// formatScalar formats the scalar v the way setScalar reads it.
func formatScalar(v reflect.Value) string {
	switch {
	case v.Type() == durationType:
		return Duration(v.Int()).String()
	case v.Kind() == reflect.Slice:
		return strings.Join(v.Interface().([]string), ",")
	case v.Kind() == reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case v.Kind() == reflect.Int:
		return strconv.FormatInt(v.Int(), 10)
	}
	return v.String()
}

// EnvName returns the environment variable for a key path: IOTHUB_ and the
// path in upper case with dots as underscores. "mqtt.max_inflight" becomes
// IOTHUB_MQTT_MAX_INFLIGHT, "listeners.tcp.0.address" becomes
// IOTHUB_LISTENERS_TCP_0_ADDRESS.
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// Set parses value into the setting at key path, as a command-line flag
// would: Set("mqtt.max_inflight", "64"). Durations take Go duration
// strings, lists of strings take comma-separated values, and the index
// equal to a list's length appends a new listener. Set does not validate:
// call Validate after the last Set.
func (c *Config) Set(key, value string) error {
	v, err := lookup(reflect.ValueOf(c).Elem(), key, true)
	if err != nil {
		return err
	}
	if err := setScalar(v, value); err != nil {
		return &KeyError{Key: key, Msg: err.Error(), Err: ErrBadValue}
	}
	c.nameListeners()
	c.syncBridgeTypes()
	return nil
}

// applyEnv applies the IOTHUB_ variables of environ to c, recording where
// each value came from in at.
func applyEnv(c *Config, environ []string, at origins) errorList {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, EnvPrefix) {
			env[k] = v
		}
	}
	errs := applyMovedEnv(c, env, at)
	leafKeys(reflect.TypeFor[Config](), "", func(key string) {
		name := EnvName(key)
		val, ok := env[name]
		if !ok {
			return
		}
		errs = setFromEnv(c, at, key, name, val, errs)
	})
	return errs
}

// setFromEnv sets key to val, the value of the variable name, recording
// the variable as where key (and the list entry it is in) came from; a
// refused value joins errs with the variable as its source.
func setFromEnv(c *Config, at origins, key, name, val string, errs errorList) errorList {
	src := "env " + name
	if parent, _, _ := strings.Cut(key, ".0."); parent != key {
		if _, seen := at[parent+".0"]; !seen {
			at[parent+".0"] = origin{source: src}
		}
	}
	at[key] = origin{source: src}
	if err := c.Set(key, val); err != nil {
		var ke *KeyError
		if errors.As(err, &ke) {
			ke.Source = src
			errs = append(errs, ke)
		}
	}
	return errs
}

// EnvVars lists every environment variable Load reads, in key order, with
// its default and description, for `iothub serve --help`. Lists of
// listeners are overridable for their first element only.
func EnvVars() []EnvVar {
	d := Defaults()
	root := reflect.ValueOf(&d).Elem()
	var keys []string
	leafKeys(root.Type(), "", func(key string) {
		if _, err := lookup(root, key, true); err == nil || bridgeTypeDefault(key).IsValid() {
			keys = append(keys, key)
		}
	})
	d.nameListeners()
	docs := exampleDocs()
	out := make([]EnvVar, 0, len(keys))
	for _, key := range keys {
		v, err := lookup(root, key, false)
		if err != nil {
			v = bridgeTypeDefault(key)
		}
		out = append(out, EnvVar{Name: EnvName(key), Key: key, Default: formatScalar(v), Doc: docs[key]})
	}
	return out
}

// bridgeTypeDefault returns the default of a key of bridge 0 that only
// another type than the default one has (the zero Value when none has).
func bridgeTypeDefault(key string) reflect.Value {
	rest, ok := strings.CutPrefix(key, "bridges.0.")
	if !ok {
		return reflect.Value{}
	}
	for _, t := range bridgeTypes() {
		b := DefaultBridge()
		b.Type = t.Name
		b.syncSettings()
		if v, err := lookup(reflect.ValueOf(&b).Elem(), rest, false); err == nil {
			return v
		}
	}
	return reflect.Value{}
}

// UnknownEnv returns the IOTHUB_ variables of environ that Load ignores
// because they name no key, sorted, so that the caller can warn about
// typos. Load does not refuse them: Kubernetes injects IOTHUB_SERVICE_HOST,
// IOTHUB_PORT_1883_TCP and the like for a Service named "iothub"; those are
// left out here too. Variables the caller reads itself must be filtered by it.
func UnknownEnv(environ []string) []string {
	known := map[string]bool{}
	leafKeys(reflect.TypeFor[Config](), "", func(key string) { known[EnvName(key)] = true })
	for name := range movedBridgeEnv() {
		known[name] = true
	}
	var out []string
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case !strings.HasPrefix(k, EnvPrefix) || known[k],
			strings.HasPrefix(k, EnvPrefix+"SERVICE_"), k == EnvPrefix+"PORT",
			strings.HasPrefix(k, EnvPrefix+"PORT_"):
		default:
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Diff returns the key paths whose values differ between old and updated, in
// key order: a scalar key ("mqtt.max_inflight"), or a list element that
// exists in only one of them ("listeners.tls.0"). It is meant for logging
// what a reload changed.
func Diff(old, updated Config) []string {
	var out []string
	diff(reflect.ValueOf(old), reflect.ValueOf(updated), "", &out)
	return out
}

func diff(a, b reflect.Value, key string, out *[]string) {
	switch {
	case a.Kind() == reflect.Struct && a.Type() != durationType:
		diffStruct(a, b, key, out)
	case isStructList(a.Type()):
		for i := range max(a.Len(), b.Len()) {
			k := join(key, strconv.Itoa(i))
			if i >= a.Len() || i >= b.Len() {
				*out = append(*out, k)
				continue
			}
			diff(a.Index(i), b.Index(i), k, out)
		}
	case a.Kind() == reflect.Slice:
		if a.Len() != 0 || b.Len() != 0 {
			if !reflect.DeepEqual(a.Interface(), b.Interface()) {
				*out = append(*out, key)
			}
		}
	case a.Interface() != b.Interface():
		*out = append(*out, key)
	}
}

// diffStruct diffs two structs key by key; a key only one of them has
// (two bridges of different types) is reported whole.
func diffStruct(a, b reflect.Value, key string, out *[]string) {
	fa, fb := fields(a), fields(b)
	byName := make(map[string]reflect.Value, len(fb))
	for _, f := range fb {
		byName[f.name] = f.v
	}
	for _, f := range fa {
		bv, ok := byName[f.name]
		if !ok {
			*out = append(*out, join(key, f.name))
			continue
		}
		delete(byName, f.name)
		diff(f.v, bv, join(key, f.name), out)
	}
	for _, f := range fb {
		if _, left := byName[f.name]; left {
			*out = append(*out, join(key, f.name))
		}
	}
}
