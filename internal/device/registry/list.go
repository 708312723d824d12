package registry

import (
	"errors"
	"fmt"
	"strings"
)

// Filter selects devices in List; zero fields select everything.
type Filter struct {
	// Prefix selects ids starting with it.
	Prefix string
	// Group selects the members of a group.
	Group string
	// Attributes selects devices with every one of these attribute values.
	Attributes map[string]string
	// Enabled and Connected, when set, select on those flags.
	Enabled, Connected *bool
}

// matches reports whether d (with its status) passes f.
func (f *Filter) matches(d *Device, st func() Status) bool {
	if f.Enabled != nil && d.Enabled != *f.Enabled {
		return false
	}
	for k, v := range f.Attributes {
		if d.Attributes[k] != v {
			return false
		}
	}
	return f.Connected == nil || st().Connected == *f.Connected
}

// errPageFull ends a scan once a page is full.
var errPageFull = errors.New("page full")

// List returns up to limit devices passing f with ids after after, in id
// order, and whether more follow.
func (r *Registry) List(f Filter, after string, limit int) ([]Info, bool, error) {
	var out []Info
	more := false
	visit := func(id string) error {
		if id <= after || !strings.HasPrefix(id, f.Prefix) {
			return nil
		}
		d, err := r.Get(id)
		if errors.Is(err, ErrNotFound) {
			return nil // deleted since the index was read
		}
		if err != nil {
			return err
		}
		var st *Status
		status := func() Status {
			if st == nil {
				s := r.status(id)
				st = &s
			}
			return *st
		}
		if !f.matches(&d, status) {
			return nil
		}
		if len(out) == limit {
			more = true
			return errPageFull
		}
		out = append(out, Info{Device: d, Status: status()})
		return nil
	}
	base, scan := prefixDevice, prefixDevice+f.Prefix
	if f.Group != "" {
		base = prefixGroup + f.Group + "/"
		scan = base
	}
	err := r.o.Store.Scan([]byte(scan), func(k, _ []byte) error {
		return visit(string(k[len(base):]))
	})
	if err != nil && !errors.Is(err, errPageFull) {
		return nil, false, fmt.Errorf("registry: list: %w", err)
	}
	return out, more, nil
}

// Members returns the ids of the devices in group, in order.
func (r *Registry) Members(group string) ([]string, error) {
	prefix := prefixGroup + group + "/"
	var ids []string
	err := r.o.Store.Scan([]byte(prefix), func(k, _ []byte) error {
		ids = append(ids, string(k[len(prefix):]))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("registry: members of %q: %w", group, err)
	}
	return ids, nil
}

// Count returns the number of registered devices.
func (r *Registry) Count() (int, error) {
	n := 0
	err := r.o.Store.Scan([]byte(prefixDevice), func(_, _ []byte) error {
		n++
		return nil
	})
	return n, err
}
