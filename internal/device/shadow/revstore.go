package shadow

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// RevKV is a key-value store whose writes compare and set on a revision:
// in a cluster, a JetStream KV bucket replicated on three nodes, so that
// every node serves the same shadows.
type RevKV interface {
	// Get returns key's value and revision, or ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, uint64, error)
	// Put writes key if its revision is rev (0: no value yet); otherwise
	// it returns ErrConflict.
	Put(ctx context.Context, key string, value []byte, rev uint64) error
	// Keys returns the keys that start with prefix.
	Keys(ctx context.Context, prefix string) ([]string, error)
}

// RevStore is the Store on a RevKV: one value per shadow under
// "s.{thing}.n{name}" (names base64url-encoded: KV keys allow few
// characters). The version check of Put is the KV's revision check: a
// shadow written meanwhile on another node is a conflict.
type RevStore struct {
	kv      RevKV
	timeout time.Duration
}

// NewRevStore returns the Store on kv; each call is bounded by timeout.
func NewRevStore(kv RevKV, timeout time.Duration) *RevStore {
	return &RevStore{kv: kv, timeout: timeout}
}

func revKey(thing, name string) string {
	return revPrefix(thing) + "n" + base64.RawURLEncoding.EncodeToString([]byte(name))
}

func revPrefix(thing string) string {
	return "s." + base64.RawURLEncoding.EncodeToString([]byte(thing)) + "."
}

func (s *RevStore) get(ctx context.Context, thing, name string) (*Doc, uint64, error) {
	b, rev, err := s.kv.Get(ctx, revKey(thing, name))
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, 0, ErrNotFound
		}
		return nil, 0, fmt.Errorf("shadow %s/%s: %w", thing, name, err)
	}
	d, err := DecodeDoc(b)
	if err != nil {
		return nil, 0, fmt.Errorf("shadow %s/%s: corrupt record: %w", thing, name, err)
	}
	return d, rev, nil
}

// Get implements Store.
func (s *RevStore) Get(thing, name string) (*Doc, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	d, _, err := s.get(ctx, thing, name)
	return d, err
}

// Put implements Store. Each shadow's last write is checked against the
// stored version and written with the revision it was read at. A conflict
// found before anything was written is ErrConflict (nothing changed: the
// caller may compute again); a shadow written on another node between
// the check and the write of a later shadow of the batch leaves the
// earlier ones written (an error that is not ErrConflict).
func (s *RevStore) Put(writes []Write) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	type final struct {
		w   Write
		rev uint64
	}
	var order []string
	last := map[string]*final{}
	for _, w := range writes {
		k := revKey(w.Thing, w.Name)
		if f := last[k]; f != nil {
			if f.w.Doc.Version != w.Prev {
				return fmt.Errorf("shadow %s/%s: batch version %d, expected %d: %w", w.Thing, w.Name, f.w.Doc.Version, w.Prev, ErrConflict)
			}
			f.w.Doc = w.Doc
			continue
		}
		d, rev, err := s.get(ctx, w.Thing, w.Name)
		var cur uint64
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			return err
		default:
			cur = d.Version
		}
		if cur != w.Prev {
			return fmt.Errorf("shadow %s/%s: stored version %d, expected %d: %w", w.Thing, w.Name, cur, w.Prev, ErrConflict)
		}
		last[k] = &final{w: w, rev: rev}
		order = append(order, k)
	}
	for i, k := range order {
		f := last[k]
		b, err := f.w.Doc.Encode()
		if err != nil {
			return fmt.Errorf("shadow %s/%s: encode: %w", f.w.Thing, f.w.Name, err)
		}
		if err := s.kv.Put(ctx, k, b, f.rev); err != nil {
			if i > 0 {
				return fmt.Errorf("shadow %s/%s: write (%d of %d shadows written): %w", f.w.Thing, f.w.Name, i, len(order), errors.Join(errPartial, err))
			}
			return fmt.Errorf("shadow %s/%s: write: %w", f.w.Thing, f.w.Name, err)
		}
	}
	return nil
}

// errPartial marks a Put that wrote some shadows of its batch only.
var errPartial = errors.New("shadow: batch written in part")

// Names implements Store.
func (s *RevStore) Names(thing, after string, limit int) ([]string, bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	prefix := revPrefix(thing)
	keys, err := s.kv.Keys(ctx, prefix)
	if err != nil {
		return nil, false, fmt.Errorf("shadow names of %s: %w", thing, err)
	}
	var all []string
	for _, k := range keys {
		enc, ok := strings.CutPrefix(k, prefix+"n")
		if !ok {
			continue
		}
		b, err := base64.RawURLEncoding.DecodeString(enc)
		if name := string(b); err == nil && name != "" && name > after {
			all = append(all, name)
		}
	}
	slices.Sort(all)
	var names []string
	for _, name := range all {
		d, _, err := s.get(ctx, thing, name)
		if err != nil || !d.Exists() {
			continue // deleted (a tombstone) or unreadable: not listed
		}
		if len(names) == limit {
			return names, true, nil
		}
		names = append(names, name)
	}
	return names, false, nil
}

var _ Store = (*RevStore)(nil)
