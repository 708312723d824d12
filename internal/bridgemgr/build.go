package bridgemgr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/iothub-dev/iothub/bridge"
	"github.com/iothub-dev/iothub/bridge/diskqueue"
	"github.com/iothub-dev/iothub/config"
	"github.com/iothub-dev/iothub/internal/rule"
	"github.com/iothub-dev/iothub/mqtt/topic"
	"github.com/iothub-dev/iothub/msg"
)

// running is a started bridge: a sink runner (producer), a source runner
// (consumer), or both (an MQTT link).
type running struct {
	sink    *bridge.Runner
	mapping *mapping
	source  *bridge.SourceRunner
	// skip and decorate are the type's Parts.Skip and Parts.Decorate.
	skip     func(*msg.Message) bool
	decorate func(*msg.Message, *bridge.Record)
}

func (r *running) close(ctx context.Context) error {
	var err error
	if r.source != nil {
		err = r.source.Close(ctx)
	}
	if r.sink != nil {
		err = errors.Join(err, r.sink.Close(ctx))
	}
	return err
}

// build validates def and builds its type's parts and record mapping,
// without connecting; log nil means a check (the parts are not run).
func build(def *config.Bridge, node string, log *slog.Logger) (*bridge.Parts, *mapping, error) {
	if err := config.ValidateBridge(def); err != nil {
		return nil, nil, err
	}
	tc, err := def.TLS.Load("tls")
	if err != nil {
		return nil, nil, err
	}
	bc := bridge.BuildContext{Name: def.Name, Node: node, TLS: tc, TLSEnabled: def.TLS.Enabled, Logger: log, Check: log == nil}
	if bc.Check {
		bc.Logger = slog.New(slog.DiscardHandler)
	}
	parts, err := def.Settings.Build(bc)
	if err != nil {
		return nil, nil, err
	}
	var mp *mapping
	if parts.Sink != nil {
		if mp, err = newSinkMapping(parts.Templates); err != nil {
			closeParts(parts)
			return nil, nil, err
		}
	}
	return parts, mp, nil
}

// closeParts releases parts that will not run.
func closeParts(p *bridge.Parts) {
	if p.Sink != nil {
		_ = p.Sink.Close()
	}
	if c, ok := p.Source.(interface{ Close() error }); ok && any(p.Source) != any(p.Sink) {
		_ = c.Close()
	}
}

// check validates def and builds it (templates parsed, clients made)
// without starting anything.
func check(def *config.Bridge) error {
	parts, _, err := build(def, "", nil)
	if err == nil {
		closeParts(parts)
	}
	return err
}

// start builds and starts the bridge def.
func (m *Manager) start(def *config.Bridge) (*running, error) {
	parts, mp, err := build(def, m.node, m.log.With("bridge", def.Name))
	if err != nil {
		return nil, err
	}
	if parts.Start != nil {
		if err := parts.Start(); err != nil {
			closeParts(parts)
			return nil, err
		}
	}
	r := &running{mapping: mp, skip: parts.Skip, decorate: parts.Decorate}
	if parts.Sink != nil {
		if r.sink, err = m.startSink(def, parts); err != nil {
			return nil, err
		}
	}
	if parts.Source != nil {
		r.source = bridge.NewSourceRunner(parts.Source, m.publishFunc(), bridge.SourceOptions{Name: def.Name, Logger: m.log})
		r.source.Start()
	}
	return r, nil
}

// startSink runs the sink of parts under the shared delivery engine, with
// its dead letter (closing both when the runner cannot be made).
func (m *Manager) startSink(def *config.Bridge, parts *bridge.Parts) (*bridge.Runner, error) {
	o := runnerOptions(def, parts, m.dataDir, m.log)
	o.RequestSync = m.requestSync
	dl, err := m.deadLetter(def, parts.Sink)
	if err != nil {
		_ = parts.Sink.Close()
		return nil, err
	}
	o.DeadLetter = dl
	r, err := bridge.NewRunner(parts.Sink, o)
	if err != nil {
		_ = parts.Sink.Close()
		if dl != nil {
			_ = dl.Close()
		}
		return nil, err
	}
	r.Start()
	return r, nil
}

// QueueDir is where bridge name keeps its disk queue.
func QueueDir(dataDir, name string) string { return filepath.Join(dataDir, "bridges", name) }

// runnerOptions maps the common keys (and the type's limits) onto the
// delivery engine's options.
func runnerOptions(def *config.Bridge, parts *bridge.Parts, dataDir string, log *slog.Logger) bridge.Options {
	b := def.Buffer
	o := bridge.Options{
		Name: def.Name, Dir: QueueDir(dataDir, def.Name), Logger: log,
		BatchSize: def.BatchSize, MemoryRecords: b.MemoryRecords, SendTimeout: def.SendTimeout.D(),
		MaxInflightBatches: parts.MaxInflightBatches,
		Disk: diskqueue.Options{MaxBytes: int64(b.MaxBytes), SegmentBytes: int64(b.SegmentBytes),
			FullPolicy: diskqueue.FullPolicy(b.FullPolicy), Fsync: diskqueue.FsyncPolicy(b.Fsync),
			FsyncInterval: b.FsyncInterval.D()},
	}
	if parts.MaxBatch > 0 {
		o.BatchSize = min(o.BatchSize, parts.MaxBatch)
	}
	return o
}

// publishFunc publishes a consumed message into the hub; a topic that is
// not a valid topic name is a permanent error (skipped and counted).
func (m *Manager) publishFunc() func(*msg.Message) error {
	return func(mm *msg.Message) error {
		if err := topic.ValidateName(mm.Topic); err != nil {
			return bridge.Permanent(fmt.Errorf("topic %q: %w", mm.Topic, err))
		}
		if m.pub == nil {
			return bridge.Permanent(fmt.Errorf("no publisher"))
		}
		if _, err := m.pub.Publish(context.Background(), mm); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		return nil
	}
}

// eventMessage is the message of out's event, or nil.
func eventMessage(out *rule.Output) *msg.Message {
	if out.Event == nil {
		return nil
	}
	return out.Event.Message
}
