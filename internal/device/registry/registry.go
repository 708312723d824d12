package registry

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/iothub-dev/iothub/auth/users"
	"github.com/iothub-dev/iothub/internal/device/thing"
	"github.com/iothub-dev/iothub/storage"
)

// Options configure a Registry.
type Options struct {
	// Store keeps the devices (required).
	Store storage.Store
	// Publisher publishes the registry events on
	// $aws/events/thing/{id}/{created,updated,deleted} (nil: none).
	Publisher thing.Publisher
	// BcryptCost is the cost of password hashes (0: bcrypt.DefaultCost).
	BcryptCost int
	// CacheTTL is how long a successful password check is remembered
	// (0: one minute; negative: never).
	CacheTTL time.Duration
	Logger   *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// OnDelete, when set, is called with the id of each device deleted,
	// after the deletion and outside the registry's lock (the jobs
	// service marks the device's pending executions REMOVED).
	OnDelete func(id string)
}

// Registry is the device registry.
type Registry struct {
	o    Options
	log  *slog.Logger
	mu   sync.Mutex             // serialises writes (a device and its group index)
	auth *users.PasswordChecker // at most GOMAXPROCS bcrypt compares at once
	// hasDevices is set once the store holds a device (found by New, or
	// set by Create before it writes one). Until then the registry wants
	// no connection events (WantsEvent), so a hub without registered
	// devices builds and queues none and looks nothing up per connect.
	// A Delete never clears it.
	hasDevices atomic.Bool
}

// Store key prefixes: the device, its status, and the group index.
const (
	prefixDevice = "dev/d/"
	prefixStatus = "dev/s/"
	prefixGroup  = "dev/g/"
)

// New returns a Registry over o.Store.
func New(o Options) *Registry {
	if o.BcryptCost == 0 {
		o.BcryptCost = bcrypt.DefaultCost
	}
	if o.CacheTTL == 0 {
		o.CacheTTL = time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	r := &Registry{o: o, log: o.Logger.With("component", "registry"), auth: users.NewPasswordChecker(o.CacheTTL, 0)}
	r.hasDevices.Store(r.anyDevice())
	return r
}

// errFound stops anyDevice's scan at the first device.
var errFound = errors.New("found")

// anyDevice reports whether the store holds a device; true when it cannot
// tell (the registry then follows connections, as it would with devices).
func (r *Registry) anyDevice() bool {
	err := r.o.Store.Scan([]byte(prefixDevice), func(_, _ []byte) error { return errFound })
	return err != nil
}

// Get returns the device with id.
func (r *Registry) Get(id string) (Device, error) {
	b, err := r.o.Store.Get([]byte(prefixDevice + id))
	if errors.Is(err, storage.ErrNotFound) {
		return Device{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	if err != nil {
		return Device{}, fmt.Errorf("registry: read %q: %w", id, err)
	}
	var d Device
	if err := json.Unmarshal(b, &d); err != nil {
		return Device{}, fmt.Errorf("registry: corrupt record of %q: %w", id, err)
	}
	return d, nil
}

// Info returns the device with id and its status.
func (r *Registry) Info(id string) (Info, error) {
	d, err := r.Get(id)
	if err != nil {
		return Info{}, err
	}
	return Info{Device: d, Status: r.status(id)}, nil
}

// Create registers a new device from s (enabled unless s says otherwise).
func (r *Registry) Create(s Spec) (Device, error) {
	if err := thing.ValidName(s.ID, thing.MaxNameLen); err != nil {
		return Device{}, fmt.Errorf("%w: id: %w", ErrInvalid, err)
	}
	d := Device{ID: s.ID, Enabled: true}
	if err := s.apply(&d, r.o.BcryptCost); err != nil {
		return Device{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.Get(s.ID); err == nil {
		return Device{}, fmt.Errorf("%w: %q", ErrExists, s.ID)
	} else if !errors.Is(err, ErrNotFound) {
		return Device{}, err
	}
	now := r.o.Now().UTC()
	d.CreatedAt, d.UpdatedAt, d.Version = now, now, 1
	r.hasDevices.Store(true)
	if err := r.write(nil, &d); err != nil {
		return Device{}, err
	}
	r.event(d, "created")
	return d, nil
}

// Update changes the device s.ID by the non-nil fields of s.
func (r *Registry) Update(s Spec) (Device, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old, err := r.Get(s.ID)
	if err != nil {
		return Device{}, err
	}
	d := old
	if err := s.apply(&d, r.o.BcryptCost); err != nil {
		return Device{}, err
	}
	d.Version++
	d.UpdatedAt = r.o.Now().UTC()
	if err := r.write(&old, &d); err != nil {
		return Device{}, err
	}
	r.event(d, "updated")
	return d, nil
}

// Delete removes the device, its status and its group memberships (its
// shadows stay, as in AWS IoT).
func (r *Registry) Delete(id string) error {
	if err := r.delete(id); err != nil {
		return err
	}
	if r.o.OnDelete != nil {
		r.o.OnDelete(id)
	}
	return nil
}

func (r *Registry) delete(id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	old, err := r.Get(id)
	if err != nil {
		return err
	}
	var b storage.Batch
	b.Delete([]byte(prefixDevice + id))
	b.Delete([]byte(prefixStatus + id))
	for _, g := range old.Groups {
		b.Delete(groupKey(g, id))
	}
	if err := r.o.Store.Apply(&b, true); err != nil {
		return fmt.Errorf("registry: delete %q: %w", id, err)
	}
	r.event(old, "deleted")
	return nil
}

func groupKey(group, id string) []byte { return []byte(prefixGroup + group + "/" + id) }

// write stores d and moves its group index entries from old's.
func (r *Registry) write(old, d *Device) error {
	rec, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("registry: encode %q: %w", d.ID, err)
	}
	var b storage.Batch
	b.Put([]byte(prefixDevice+d.ID), rec)
	if old != nil {
		for _, g := range old.Groups {
			if !slices.Contains(d.Groups, g) {
				b.Delete(groupKey(g, d.ID))
			}
		}
	}
	for _, g := range d.Groups {
		b.Put(groupKey(g, d.ID), nil)
	}
	if err := r.o.Store.Apply(&b, true); err != nil {
		return fmt.Errorf("registry: write %q: %w", d.ID, err)
	}
	return nil
}

// thingEvent is AWS IoT's registry event document.
type thingEvent struct {
	EventType     string            `json:"eventType"`
	EventID       string            `json:"eventId"`
	Timestamp     int64             `json:"timestamp"`
	Operation     string            `json:"operation"`
	ThingID       string            `json:"thingId"`
	ThingName     string            `json:"thingName"`
	VersionNumber int64             `json:"versionNumber"`
	Attributes    map[string]string `json:"attributes"`
	Groups        []string          `json:"groups,omitempty"`
	Enabled       bool              `json:"enabled"`
}

// event publishes a registry event for rules (op: created, updated,
// deleted) on $aws/events/thing/{id}/{op}.
func (r *Registry) event(d Device, op string) {
	if r.o.Publisher == nil {
		return
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	attrs := d.Attributes
	if attrs == nil {
		attrs = map[string]string{}
	}
	b, err := json.Marshal(thingEvent{EventType: "THING_EVENT", EventID: hex.EncodeToString(id[:]),
		Timestamp: r.o.Now().UnixMilli(), Operation: map[string]string{"created": "CREATED", "updated": "UPDATED", "deleted": "DELETED"}[op],
		ThingID: d.ID, ThingName: d.ID, VersionNumber: d.Version, Attributes: attrs, Groups: d.Groups, Enabled: d.Enabled})
	if err != nil {
		return
	}
	if err := thing.Publish(r.o.Publisher, thing.EventsPrefix+"thing/"+d.ID+"/"+op, b, "registry"); err != nil {
		r.log.Warn("publishing a registry event failed", "device", d.ID, "error", err)
	}
}
