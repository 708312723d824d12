package schema

import (
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// TypeProtobuf is the one schema type: Protocol Buffers source (.proto).
const TypeProtobuf = "protobuf"

// Where a schema comes from.
const (
	// OriginConfig marks schemas of the configuration file: read-only
	// through the API, not stored in schemas.json.
	OriginConfig = "config"
	// OriginAPI marks schemas created through the API, kept in
	// <data_dir>/schemas.json.
	OriginAPI = "api"
)

// MaxSchemas bounds the number of schemas in a registry.
const MaxSchemas = 1024

// Schema is a schema's definition, as the configuration file, the API
// and schemas.json hold it (EMQX's schema registry shape).
type Schema struct {
	// Name is what schema_decode and schema_encode call it: 1 to 64
	// letters, digits, '_', '-' or '.'.
	Name string `json:"name"`
	// Type is "protobuf" (the default when empty).
	Type string `json:"type"`
	// Source is the .proto text.
	Source string `json:"source"`
	// Description is free text.
	Description string `json:"description,omitempty"`
}

// Info is a schema as the API shows it: its definition, where it comes
// from and the full names of its messages.
type Info struct {
	Schema
	// Origin is OriginConfig or OriginAPI.
	Origin string `json:"origin"`
	// Messages are the full names of the messages it defines, sorted.
	Messages []string `json:"messages"`
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// Options configures a Registry.
type Options struct {
	// DataDir holds schemas.json; "" keeps API schemas in memory only.
	DataDir string
}

// Registry holds compiled schemas by name. See the package comment for
// its lifecycle and concurrency.
type Registry struct {
	store *fileStore
	mu    sync.Mutex // serialises writers of snap
	snap  atomic.Pointer[map[string]*compiled]
}

// New returns an empty Registry.
func New(o Options) *Registry {
	r := &Registry{}
	if o.DataDir != "" {
		r.store = &fileStore{path: filepath.Join(o.DataDir, StoreFile)}
	}
	empty := map[string]*compiled{}
	r.snap.Store(&empty)
	return r
}

// check validates def's name and type and compiles it.
func check(def Schema, origin string) (*compiled, error) {
	if !namePattern.MatchString(def.Name) {
		return nil, fmt.Errorf("%w: name %q: want 1 to 64 letters, digits, '_', '-' or '.'", ErrInvalid, def.Name)
	}
	if def.Type == "" {
		def.Type = TypeProtobuf
	}
	if def.Type != TypeProtobuf {
		return nil, fmt.Errorf("%w: schema %q: type %q: want %q", ErrInvalid, def.Name, def.Type, TypeProtobuf)
	}
	cs, err := compile(def)
	if err != nil {
		return nil, err
	}
	cs.origin = origin
	return cs, nil
}

// AddConfig compiles and adds a schema of the configuration file
// (read-only through the API, not persisted).
func (r *Registry) AddConfig(def Schema) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.put(def, OriginConfig, false)
}

// put compiles def and installs it; replace says whether an existing
// schema of that name may be replaced. r.mu is held.
func (r *Registry) put(def Schema, origin string, replace bool) error {
	cur := *r.snap.Load()
	old, exists := cur[def.Name]
	switch {
	case exists && !replace:
		return fmt.Errorf("schema %q: %w", def.Name, ErrExists)
	case !exists && replace:
		return fmt.Errorf("schema %q: %w", def.Name, ErrNotFound)
	case exists && old.origin == OriginConfig:
		return fmt.Errorf("schema %q: %w", def.Name, ErrReadOnly)
	case !exists && len(cur) >= MaxSchemas:
		return fmt.Errorf("%w: schema %q: the registry holds %d schemas, the most it may", ErrInvalid, def.Name, MaxSchemas)
	}
	cs, err := check(def, origin)
	if err != nil {
		return err
	}
	next := maps.Clone(cur)
	next[def.Name] = cs
	r.snap.Store(&next)
	return nil
}

// Load adds the schemas kept in schemas.json; a stored schema that no
// longer compiles, or whose name is a configuration schema, is skipped
// and reported in skipped (name → reason) so that the caller can log it.
func (r *Registry) Load() (skipped map[string]error, err error) {
	if r.store == nil {
		return nil, nil
	}
	stored, err := r.store.load()
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, def := range stored {
		if err := r.put(def, OriginAPI, false); err != nil {
			if skipped == nil {
				skipped = map[string]error{}
			}
			skipped[def.Name] = err
		}
	}
	return skipped, nil
}

// Create adds an API schema and stores it in schemas.json. It fails with
// ErrExists, ErrInvalid (an *InvalidError for a source that does not
// compile) or a storage error.
func (r *Registry) Create(def Schema) (Info, error) {
	return r.change(def, false)
}

// Update replaces an API schema (ErrNotFound, ErrReadOnly, ErrInvalid)
// and stores it. Rules that use it read the new version from their next
// evaluation.
func (r *Registry) Update(def Schema) (Info, error) {
	return r.change(def, true)
}

func (r *Registry) change(def Schema, replace bool) (Info, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	prev := r.snap.Load()
	if err := r.put(def, OriginAPI, replace); err != nil {
		return Info{}, err
	}
	if err := r.persist(); err != nil {
		r.snap.Store(prev)
		return Info{}, err
	}
	return (*r.snap.Load())[def.Name].info(), nil
}

// Delete removes an API schema (ErrNotFound, ErrReadOnly) and stores the
// change. Rules that use it fail from their next evaluation.
func (r *Registry) Delete(name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	prev := r.snap.Load()
	cs, ok := (*prev)[name]
	switch {
	case !ok:
		return fmt.Errorf("schema %q: %w", name, ErrNotFound)
	case cs.origin == OriginConfig:
		return fmt.Errorf("schema %q: %w", name, ErrReadOnly)
	}
	next := maps.Clone(*prev)
	delete(next, name)
	r.snap.Store(&next)
	if err := r.persist(); err != nil {
		r.snap.Store(prev)
		return err
	}
	return nil
}

// Get returns one schema (ErrNotFound if none).
func (r *Registry) Get(name string) (Info, error) {
	cs, ok := (*r.snap.Load())[name]
	if !ok {
		return Info{}, fmt.Errorf("schema %q: %w", name, ErrNotFound)
	}
	return cs.info(), nil
}

// List returns every schema: configuration schemas first, each group by
// name.
func (r *Registry) List() []Info {
	snap := *r.snap.Load()
	out := make([]Info, 0, len(snap))
	for _, cs := range snap {
		out = append(out, cs.info())
	}
	slices.SortFunc(out, func(a, b Info) int {
		if a.Origin != b.Origin {
			if a.Origin == OriginConfig {
				return -1
			}
			return 1
		}
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out
}

// Decode decodes data as the message named message (full, or relative to
// the schema's package; "" for a schema with one message) of the schema
// name. The result holds JSON-shaped values: every field that is set, and
// the fields without presence (proto3 scalars, repeated, maps) even at
// their default, under their .proto names; integers as int64 (a uint64
// above 2^63-1 as float64), floats as float64 (NaN and infinities as
// "NaN", "Infinity", "-Infinity"), bytes as a string of those bytes,
// enums by name, messages as maps, repeated fields as []any, maps as
// map[string]any. It fails with ErrNotFound or ErrDecode.
func (r *Registry) Decode(name, message string, data []byte) (map[string]any, error) {
	md, err := r.descriptor(name, message)
	if err != nil {
		return nil, err
	}
	return decodeMessage(md, data)
}

// Encode builds the message named message of the schema name from fields
// (keys are field names as in the .proto, or their JSON names; a null
// value leaves the field unset; numbers must fit the field's type; enums
// take a value's name or number; bytes take a string) and returns its
// binary form, with map entries in key order. A required field (proto2)
// left unset, an unknown key or a value of the wrong kind fails with
// ErrEncode, naming the field's path.
func (r *Registry) Encode(name, message string, fields map[string]any) ([]byte, error) {
	md, err := r.descriptor(name, message)
	if err != nil {
		return nil, err
	}
	return encodeMessage(md, fields)
}

func (r *Registry) descriptor(name, message string) (protoreflect.MessageDescriptor, error) {
	cs, ok := (*r.snap.Load())[name]
	if !ok {
		return nil, fmt.Errorf("%w: no schema %q", ErrNotFound, name)
	}
	return cs.message(message)
}

func (cs *compiled) info() Info {
	return Info{Schema: cs.def, Origin: cs.origin, Messages: slices.Clone(cs.names)}
}

// persist writes the API schemas to schemas.json; r.mu is held.
func (r *Registry) persist() error {
	if r.store == nil {
		return nil
	}
	var api []Schema
	for _, in := range r.List() {
		if in.Origin == OriginAPI {
			api = append(api, in.Schema)
		}
	}
	return r.store.save(api)
}
