package schema

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/reporter"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// MaxSourceBytes bounds a schema's source text.
const MaxSourceBytes = 256 << 10

// compileTimeout bounds the compilation of one source.
const compileTimeout = 10 * time.Second

// compiled is one schema ready for decoding and encoding: its messages by
// full name ("pkg.Outer.Inner") and by the name relative to the package
// ("Outer.Inner"), which is what schema_decode's last argument usually is.
type compiled struct {
	def      Schema
	origin   string
	messages map[string]protoreflect.MessageDescriptor
	names    []string // the full names, sorted
}

// compile parses and links def's source; a mistake is an *InvalidError
// with the line and column of the first one.
func compile(def Schema) (*compiled, error) {
	if len(def.Source) > MaxSourceBytes {
		return nil, &InvalidError{Schema: def.Name, Msg: fmt.Sprintf("source is %d bytes, over the limit of %d", len(def.Source), MaxSourceBytes)}
	}
	if strings.TrimSpace(def.Source) == "" {
		return nil, &InvalidError{Schema: def.Name, Msg: "source is empty"}
	}
	file := def.Name + ".proto"
	c := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
			Accessor: protocompile.SourceAccessorFromMap(map[string]string{file: def.Source}),
		}),
		MaxParallelism: 1,
	}
	ctx, cancel := context.WithTimeout(context.Background(), compileTimeout)
	defer cancel()
	files, err := c.Compile(ctx, file)
	if err != nil {
		return nil, invalid(def.Name, err)
	}
	cs := &compiled{def: def, messages: map[string]protoreflect.MessageDescriptor{}}
	for _, f := range files {
		cs.addMessages(string(f.Package()), f.Messages())
	}
	if len(cs.names) == 0 {
		return nil, &InvalidError{Schema: def.Name, Msg: "the source defines no message"}
	}
	slices.Sort(cs.names)
	return cs, nil
}

// invalid turns a compiler error into an *InvalidError.
func invalid(name string, err error) error {
	var pos reporter.ErrorWithPos
	if errors.As(err, &pos) {
		p := pos.GetPosition()
		return &InvalidError{Schema: name, Line: p.Line, Column: p.Col, Msg: pos.Unwrap().Error()}
	}
	return &InvalidError{Schema: name, Msg: err.Error()}
}

// addMessages indexes ms and their nested messages (map entries excluded).
func (cs *compiled) addMessages(pkg string, ms protoreflect.MessageDescriptors) {
	for i := range ms.Len() {
		md := ms.Get(i)
		if md.IsMapEntry() {
			continue
		}
		full := string(md.FullName())
		cs.messages[full] = md
		cs.names = append(cs.names, full)
		if rel, ok := strings.CutPrefix(full, pkg+"."); ok && pkg != "" {
			cs.messages[rel] = md
		}
		cs.addMessages(pkg, md.Messages())
	}
}

// message returns the message named name (full or relative to the
// package); "" names the only message of a schema that has one.
func (cs *compiled) message(name string) (protoreflect.MessageDescriptor, error) {
	if name == "" {
		if len(cs.names) == 1 {
			return cs.messages[cs.names[0]], nil
		}
		return nil, fmt.Errorf("%w: schema %q has %d messages (%s): name one", ErrNotFound, cs.def.Name,
			len(cs.names), strings.Join(cs.names, ", "))
	}
	if md, ok := cs.messages[strings.TrimPrefix(name, ".")]; ok {
		return md, nil
	}
	return nil, fmt.Errorf("%w: schema %q has no message %q (it has %s)", ErrNotFound, cs.def.Name, name,
		strings.Join(cs.names, ", "))
}
