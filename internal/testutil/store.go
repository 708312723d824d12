package testutil

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/storage/pebblestore"
)

// StoredBroker is a broker backed by an embedded store in a directory, which
// a test can stop and start again on the same directory (a restart).
type StoredBroker struct {
	// Server and Addr are the running broker and its listener address.
	Server *broker.Server
	Addr   string

	dir       string
	configure func(*broker.Options)
	store     *pebblestore.Store
	done      chan struct{}
	onStop    []func()
}

// OnStop registers fn to run before the running broker stops (to remove
// an event handler, say); it runs once.
func (b *StoredBroker) OnStop(fn func()) { b.onStop = append(b.onStop, fn) }

// StartStoredBroker starts a broker as StartBroker does, with a pebble store
// in dir; it is stopped when the test ends.
func StartStoredBroker(t testing.TB, dir string, configure func(*broker.Options)) *StoredBroker {
	t.Helper()
	b := &StoredBroker{dir: dir, configure: configure}
	b.start(t)
	t.Cleanup(func() { b.Stop(t) })
	return b
}

func (b *StoredBroker) start(t testing.TB) {
	t.Helper()
	st, err := pebblestore.Open(b.dir)
	require.NoError(t, err)
	s, err := broker.New(BrokerOptions(t, func(o *broker.Options) {
		o.Store = st
		if b.configure != nil {
			b.configure(o)
		}
	}))
	if err != nil {
		_ = st.Close()
	}
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	b.Server, b.Addr, b.store, b.done = s, ln.Addr().String(), st, make(chan struct{})
	go func(done chan struct{}) {
		defer close(done)
		_ = s.Serve(ln, "tcp")
	}(b.done)
}

// Stop shuts the broker down and closes its store; it does nothing when
// the broker is stopped already.
func (b *StoredBroker) Stop(t testing.TB) {
	t.Helper()
	if b.store == nil {
		return
	}
	for _, fn := range b.onStop {
		fn()
	}
	b.onStop = nil
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, b.Server.Shutdown(ctx))
	<-b.done
	require.NoError(t, b.store.Close())
	b.store = nil
}

// Restart stops the broker and starts a new one on the same directory; its
// address changes.
func (b *StoredBroker) Restart(t testing.TB) {
	t.Helper()
	b.Stop(t)
	b.start(t)
}
