package statefile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
)

// ErrFormat is returned (wrapped) for a state file that is not a JSON object
// of the expected shape.
var ErrFormat = errors.New("statefile: bad format")

// ErrVersion is returned (wrapped) for a state file of another format
// version than the one the caller reads.
var ErrVersion = errors.New("statefile: unsupported version")

// versionKey is the name of the format-version member.
const versionKey = "version"

// Option changes how Decode reads a file.
type Option int

// AcceptUnversioned makes Decode read a file without a "version" member as
// the version asked for: for a file whose first format carried none.
const AcceptUnversioned Option = 1

// File names one state file: where it lives, the name of its list and the
// format version this build reads and writes.
type File[T any] struct {
	// Path is the file's path.
	Path string
	// Key is the name of the list in the JSON object ("rules", "bans", …).
	Key string
	// Version is the format version; Load refuses any other.
	Version int
	// Options are passed to Decode by Load.
	Options []Option
}

// Load returns the file's items; a missing file is an empty list (nil). An
// unreadable or malformed file is an error naming the path.
func (f File[T]) Load() ([]T, error) {
	data, err := os.ReadFile(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", f.Path, err)
	}
	items, err := Decode[T](data, f.Key, f.Version, f.Options...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Path, err)
	}
	return items, nil
}

// Save replaces the file with items, atomically and durably (WriteAtomic).
func (f File[T]) Save(items []T) error {
	data, err := Encode(items, f.Key, f.Version)
	if err != nil {
		return fmt.Errorf("%s: %w", f.Path, err)
	}
	return WriteAtomic(f.Path, data)
}

// Decode returns the items of a state file's content: a JSON object with a
// "version" equal to version (absent reads as 0, or as version with
// AcceptUnversioned) and a list under key (absent reads as empty). Any
// other member is an error, so that a file written by hand with a misspelt
// key is not read as empty.
func Decode[T any](data []byte, key string, version int, opts ...Option) ([]T, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	if doc == nil {
		return nil, fmt.Errorf("%w: want a JSON object, got null", ErrFormat)
	}
	got := 0
	if slices.Contains(opts, AcceptUnversioned) {
		got = version
	}
	if raw, ok := doc[versionKey]; ok {
		if err := json.Unmarshal(raw, &got); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrFormat, versionKey, err)
		}
	}
	if got != version {
		return nil, fmt.Errorf("%w %d (this build reads %d)", ErrVersion, got, version)
	}
	for name := range doc {
		if name != versionKey && name != key {
			return nil, fmt.Errorf("%w: unknown member %q (want %q and %q)", ErrFormat, name, versionKey, key)
		}
	}
	raw, ok := doc[key]
	if !ok || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil, nil
	}
	var items []T
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrFormat, key, err)
	}
	return items, nil
}

// Encode returns the content of a state file holding items: indented JSON
// ending in a newline, with an empty list (not null) when there are none.
func Encode[T any](items []T, key string, version int) ([]byte, error) {
	if items == nil {
		items = []T{}
	}
	data, err := json.MarshalIndent(map[string]any{versionKey: version, key: items}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", key, err)
	}
	return append(data, '\n'), nil
}
