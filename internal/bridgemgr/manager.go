package bridgemgr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/iothub-dev/iothub/storage/statefile"

	"github.com/iothub-dev/iothub/bridge"
	"github.com/iothub-dev/iothub/config"
	"github.com/iothub-dev/iothub/msg"
)

// Sentinel errors, those of package bridge (the API maps them to status
// codes).
var (
	// ErrNotFound means no bridge has the name.
	ErrNotFound = bridge.ErrNotFound
	// ErrExists means a bridge with the name already exists.
	ErrExists = bridge.ErrExists
	// ErrReadOnly means the bridge comes from the configuration file.
	ErrReadOnly = bridge.ErrReadOnly
	// ErrInvalid means a definition was refused.
	ErrInvalid = bridge.ErrInvalid
)

// Where a bridge comes from.
const (
	SourceConfig = "config"
	SourceAPI    = "api"
)

// StoreFile is the file in the data directory holding API bridges.
const StoreFile = "bridges.json"

// Publisher publishes into the hub; *broker.Server implements it.
type Publisher interface {
	Publish(ctx context.Context, m *msg.Message) (int, error)
}

// Options configure a Manager.
type Options struct {
	// DataDir holds bridges.json and the disk queues.
	DataDir string
	// Publisher receives consumed messages (kafka_consumer bridges).
	Publisher Publisher
	// Logger receives the bridges' logs.
	Logger *slog.Logger
	// Node is this hub's node name (the mqtt bridge's loop marker).
	Node string
	// RequestSync is called after records were appended to a bridge's
	// durable queue: the owner (the broker, see broker.Syncer) then calls
	// Sync soon. Nil: each bridge writes its own appends.
	RequestSync func()
}

// Info is a bridge as the API shows it.
type Info struct {
	config.Bridge
	// Source is config or api.
	Source string `json:"source"`
	// Status is the connection state.
	Status bridge.Status `json:"status"`
}

// Manager owns the bridges: it starts those of the configuration file and
// of bridges.json, creates, updates, deletes, enables and disables them
// (API bridges only), reports status and metrics, and hands rule outputs
// to producers (Action). It is safe for concurrent use.
type Manager struct {
	dataDir     string
	pub         Publisher
	log         *slog.Logger
	node        string
	requestSync func()
	sinks       atomic.Pointer[[]*bridge.Runner] // running sinks, for Sync (no lock)

	mu       sync.RWMutex
	declared map[string]bool // names of the file's and bridges.json's bridges (Declare)
	defs     map[string]config.Bridge
	source   map[string]string
	running  map[string]*running
	closed   bool
}

// New returns a manager with no bridges.
func New(o Options) *Manager {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Manager{dataDir: o.DataDir, pub: o.Publisher, log: o.Logger.With("component", "bridges"), node: o.Node,
		requestSync: o.RequestSync, defs: map[string]config.Bridge{}, source: map[string]string{}, running: map[string]*running{}}
}

// Declare records the names of the bridges of the file (defs) and of
// data_dir/bridges.json before they start, so that a rule's bridge action
// naming none of them (nor a bridge created later) is refused when the
// rule is added.
func (m *Manager) Declare(defs []config.Bridge) error {
	stored, err := m.load()
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.declared = map[string]bool{}
	for _, list := range [][]config.Bridge{defs, stored} {
		for i := range list {
			m.declared[list[i].Name] = true
		}
	}
	return nil
}

// known reports whether a bridge of that name is declared or exists.
func (m *Manager) known(name string) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	_, exists := m.defs[name]
	return exists || m.declared[name] || m.declared == nil
}

// Check validates a bridge definition and parses its templates, as
// starting it would, without connecting.
func Check(def *config.Bridge) error { return check(def) }

// Sync writes (and with durable, fsyncs) what rules appended to the
// running bridges' durable queues; it implements broker.Syncer. It takes
// no lock of the manager, so that a bridge being stopped (which may wait
// for a publish that waits for this Sync) cannot block it. With several
// bridges the queues are synced at the same time (one fsync each, in
// parallel), so a commit waits for the slowest, not for their sum.
func (m *Manager) Sync(durable bool) error {
	p := m.sinks.Load()
	if p == nil || len(*p) == 0 {
		return nil
	}
	list := *p
	if len(list) == 1 || !durable {
		var err error
		for _, r := range list {
			err = errors.Join(err, r.Sync(durable))
		}
		return err
	}
	errs := make([]error, len(list))
	var wg sync.WaitGroup
	for i, r := range list[1:] {
		wg.Go(func() { errs[i+1] = r.Sync(durable) })
	}
	errs[0] = list[0].Sync(durable)
	wg.Wait()
	return errors.Join(errs...)
}

// refreshSinks publishes the list of running sinks for Sync; m.mu is held.
func (m *Manager) refreshSinks() {
	list := make([]*bridge.Runner, 0, len(m.running))
	for _, r := range m.running {
		if r.sink != nil {
			list = append(list, r.sink)
		}
	}
	m.sinks.Store(&list)
}

// Start adds and starts the bridges of the file (cfg) and of bridges.json.
// A definition that cannot be built (a bad template) fails Start with its
// key; an unreachable Kafka does not (it shows in the status).
func (m *Manager) Start(cfg []config.Bridge) error {
	stored, err := m.load()
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range cfg {
		if err := m.add(cfg[i], SourceConfig); err != nil {
			return fmt.Errorf("bridges.%d: %w", i, err)
		}
	}
	for i := range stored {
		if _, dup := m.defs[stored[i].Name]; dup {
			m.log.Warn("bridge in bridges.json shadowed by the configuration file", "bridge", stored[i].Name)
			continue
		}
		if err := m.add(stored[i], SourceAPI); err != nil {
			return fmt.Errorf("%s: bridge %s: %w", StoreFile, stored[i].Name, err)
		}
	}
	return nil
}

// add checks, records and (when enabled) starts def; m.mu is held.
func (m *Manager) add(def config.Bridge, source string) error {
	if err := check(&def); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if _, dup := m.defs[def.Name]; dup {
		return fmt.Errorf("bridge %s: %w", def.Name, ErrExists)
	}
	if def.Enabled {
		r, err := m.start(&def)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		m.running[def.Name] = r
		m.refreshSinks()
	}
	m.defs[def.Name] = def
	m.source[def.Name] = source
	return nil
}

// stop stops the running bridge name, if any; m.mu is held.
func (m *Manager) stop(name string) error {
	r := m.running[name]
	if r == nil {
		return nil
	}
	delete(m.running, name)
	m.refreshSinks()
	return r.close(context.Background())
}

// Create adds an API bridge and starts it when enabled.
func (m *Manager) Create(def config.Bridge) (Info, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, dup := m.defs[def.Name]; dup {
		return Info{}, fmt.Errorf("bridge %s: %w", def.Name, ErrExists)
	}
	if err := m.add(def, SourceAPI); err != nil {
		return Info{}, err
	}
	if err := m.persist(); err != nil {
		return Info{}, err
	}
	return m.info(def.Name), nil
}

// Update replaces an API bridge's definition and restarts it; its disk
// queue is kept.
func (m *Manager) Update(def config.Bridge) (Info, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.writable(def.Name); err != nil {
		return Info{}, err
	}
	if err := check(&def); err != nil {
		return Info{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	old := m.defs[def.Name]
	if err := m.stop(def.Name); err != nil {
		m.log.Warn("bridge stop", "bridge", def.Name, "error", err)
	}
	delete(m.defs, def.Name)
	if err := m.add(def, SourceAPI); err != nil {
		_ = m.add(old, SourceAPI)
		return Info{}, err
	}
	if err := m.persist(); err != nil {
		return Info{}, err
	}
	return m.info(def.Name), nil
}

// Delete stops an API bridge and removes it with its disk queue.
func (m *Manager) Delete(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.writable(name); err != nil {
		return err
	}
	err := m.stop(name)
	delete(m.defs, name)
	delete(m.source, name)
	if m.dataDir != "" {
		err = errors.Join(err, os.RemoveAll(QueueDir(m.dataDir, name)))
	}
	return errors.Join(err, m.persist())
}

// Enable starts an API bridge. Disable stops it (its disk queue is kept;
// records offered meanwhile are counted as dropped, reason "stopped").
func (m *Manager) Enable(name string) (Info, error) { return m.setEnabled(name, true) }

// Disable stops an API bridge; see Enable.
func (m *Manager) Disable(name string) (Info, error) { return m.setEnabled(name, false) }

func (m *Manager) setEnabled(name string, on bool) (Info, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.writable(name); err != nil {
		return Info{}, err
	}
	def := m.defs[name]
	if def.Enabled != on {
		def.Enabled = on
		if err := m.stop(name); err != nil {
			m.log.Warn("bridge stop", "bridge", name, "error", err)
		}
		delete(m.defs, name)
		if err := m.add(def, SourceAPI); err != nil {
			return Info{}, err
		}
		if err := m.persist(); err != nil {
			return Info{}, err
		}
	}
	return m.info(name), nil
}

// writable checks that name exists and is an API bridge; m.mu is held.
func (m *Manager) writable(name string) error {
	switch m.source[name] {
	case "":
		return fmt.Errorf("bridge %s: %w", name, ErrNotFound)
	case SourceConfig:
		return fmt.Errorf("bridge %s: %w", name, ErrReadOnly)
	}
	return nil
}

// Get returns one bridge.
func (m *Manager) Get(name string) (Info, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if _, ok := m.defs[name]; !ok {
		return Info{}, fmt.Errorf("bridge %s: %w", name, ErrNotFound)
	}
	return m.info(name), nil
}

// List returns every bridge, by name.
func (m *Manager) List() []Info {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]Info, 0, len(m.defs))
	for name := range m.defs {
		out = append(out, m.info(name))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// info builds name's Info; m.mu is held.
func (m *Manager) info(name string) Info {
	return Info{Bridge: m.defs[name], Source: m.source[name], Status: m.status(name)}
}

// MarshalJSON writes the bridge's entry, secrets redacted, with source
// and status.
func (in Info) MarshalJSON() ([]byte, error) {
	def, err := in.Bridge.RedactedJSON()
	if err != nil {
		return nil, err
	}
	extra, err := json.Marshal(struct {
		Source string        `json:"source"`
		Status bridge.Status `json:"status"`
	}{in.Source, in.Status})
	if err != nil {
		return nil, fmt.Errorf("bridge %s: %w", in.Name, err)
	}
	return append(append(def[:len(def)-1], ','), extra[1:]...), nil
}

// Status returns a bridge's connection state.
func (m *Manager) Status(name string) (bridge.Status, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if _, ok := m.defs[name]; !ok {
		return bridge.Status{}, fmt.Errorf("bridge %s: %w", name, ErrNotFound)
	}
	return m.status(name), nil
}

func (m *Manager) status(name string) bridge.Status {
	r := m.running[name]
	switch {
	case r == nil:
		return bridge.Status{State: bridge.StateStopped}
	case r.sink != nil:
		return r.sink.Status()
	}
	return r.source.Status()
}

// Metrics returns a bridge's counters: a bridge.Metrics for a producer,
// a bridge.SourceMetrics for a consumer (nil when it is not running).
func (m *Manager) Metrics(name string) (any, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if _, ok := m.defs[name]; !ok {
		return nil, fmt.Errorf("bridge %s: %w", name, ErrNotFound)
	}
	r := m.running[name]
	switch {
	case r == nil:
		return nil, nil
	case r.sink != nil:
		return r.sink.Metrics(), nil
	}
	return r.source.Metrics(), nil
}

// Close stops every bridge (producers write their memory queues to disk).
func (m *Manager) Close(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	var err error
	for name, r := range m.running {
		err = errors.Join(err, r.close(ctx))
		delete(m.running, name)
	}
	m.refreshSinks()
	return err
}

// storeVersion is the format of bridges.json this build writes: version
// 2 holds each bridge's common keys and its type's; version 1 (before
// bridge types had their own packages) held every type's sections for
// every bridge, and is still read (DecodeLegacyBridge).
const storeVersion = 2

// storeFile is bridges.json: {"version": 2, "bridges": [config.Bridge, ...]}.
func (m *Manager) storeFile() statefile.File[config.Bridge] {
	return statefile.File[config.Bridge]{Path: filepath.Join(m.dataDir, StoreFile), Key: "bridges", Version: storeVersion}
}

func (m *Manager) load() ([]config.Bridge, error) {
	if m.dataDir == "" {
		return nil, nil
	}
	defs, err := m.storeFile().Load()
	if errors.Is(err, statefile.ErrVersion) {
		defs, err = m.loadLegacy()
	}
	if err != nil {
		return nil, fmt.Errorf("bridges store: %w", err)
	}
	return defs, nil
}

// loadLegacy reads a version 1 bridges.json; the next change writes it
// as version 2.
func (m *Manager) loadLegacy() ([]config.Bridge, error) {
	f := statefile.File[json.RawMessage]{Path: filepath.Join(m.dataDir, StoreFile), Key: "bridges", Version: 1}
	raws, err := f.Load()
	if err != nil {
		return nil, err
	}
	defs := make([]config.Bridge, 0, len(raws))
	for i, raw := range raws {
		def, err := config.DecodeLegacyBridge(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: bridges.%d: %w", f.Path, i, err)
		}
		defs = append(defs, def)
	}
	return defs, nil
}

// persist writes the API bridges to bridges.json atomically; m.mu is held.
func (m *Manager) persist() error {
	if m.dataDir == "" {
		return nil
	}
	var defs []config.Bridge
	for name, src := range m.source {
		if src == SourceAPI {
			defs = append(defs, m.defs[name])
		}
	}
	sort.Slice(defs, func(i, j int) bool { return defs[i].Name < defs[j].Name })
	if err := m.storeFile().Save(defs); err != nil {
		return fmt.Errorf("bridges store: %w", err)
	}
	return nil
}

// DecodeDefinition reads a bridge definition sent to the API: the JSON form
// of a `bridges` entry of the config file, starting from the defaults
// (config.DefaultBridge), unknown keys refused (config.DecodeBridge);
// deprecated keys are read and returned as warnings. With name set (an
// update of the bridge of that name), the definition may leave its name
// out but not name another bridge. Every error wraps ErrInvalid.
func DecodeDefinition(data []byte, name string) (config.Bridge, []string, error) {
	def, warns, err := config.DecodeBridge(data)
	if err != nil {
		return def, nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	var notes []string
	for _, w := range warns {
		notes = append(notes, w.Key+": "+w.Msg)
	}
	if name != "" {
		if def.Name != "" && def.Name != name {
			return def, nil, fmt.Errorf("%w: name: the body names %q, the path %q", ErrInvalid, def.Name, name)
		}
		def.Name = name
	}
	return def, notes, nil
}
