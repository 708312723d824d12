package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/iothub-dev/iothub/msg"
	"github.com/iothub-dev/iothub/storage"
)

// WantsEvent implements the broker's EventFilter: the registry follows
// connections only, and only once it has a device (hasDevices).
func (r *Registry) WantsEvent(kind msg.EventKind) bool {
	return (kind == msg.EventClientConnected || kind == msg.EventClientDisconnected) && r.hasDevices.Load()
}

// HandleEvent records a registered device's connection or disconnection
// (connected, node, last seen); other clients are ignored. Status writes
// are not synced: a crash loses at most the last seconds of it.
func (r *Registry) HandleEvent(ev msg.Event) {
	if !r.WantsEvent(ev.Kind) {
		return
	}
	if _, err := r.o.Store.Get([]byte(prefixDevice + ev.ClientID)); err != nil {
		return
	}
	st := Status{Connected: ev.Kind == msg.EventClientConnected, Node: ev.Node, LastSeen: ev.Time.UTC()}
	b, err := json.Marshal(st)
	if err != nil {
		return
	}
	var batch storage.Batch
	batch.Put([]byte(prefixStatus+ev.ClientID), b)
	if err := r.o.Store.Apply(&batch, false); err != nil {
		r.log.Warn("recording a device's connection failed", "device", ev.ClientID, "error", err)
	}
}

// status returns the recorded status of id (zero when none).
func (r *Registry) status(id string) Status {
	var st Status
	b, err := r.o.Store.Get([]byte(prefixStatus + id))
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) {
			r.log.Warn("reading a device's status failed", "device", id, "error", err)
		}
		return st
	}
	_ = json.Unmarshal(b, &st)
	return st
}

// MarkDisconnected records every device this node had connected as
// disconnected: at start-up, what a stopped or crashed process left says
// nothing of the present.
func (r *Registry) MarkDisconnected(node string) error {
	var batch storage.Batch
	err := r.o.Store.Scan([]byte(prefixStatus), func(k, v []byte) error {
		var st Status
		if err := json.Unmarshal(v, &st); err != nil || !st.Connected || st.Node != node {
			return nil //nolint:nilerr // an unreadable status says nothing of the present either: skipped
		}
		st.Connected = false
		b, err := json.Marshal(st)
		if err != nil {
			return err
		}
		batch.Put(bytes.Clone(k), b)
		return nil
	})
	if err == nil && batch.Len() > 0 {
		err = r.o.Store.Apply(&batch, false)
	}
	if err != nil {
		return fmt.Errorf("registry: reset connection status: %w", err)
	}
	return nil
}
