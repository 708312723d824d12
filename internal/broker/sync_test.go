package broker_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/msg"
)

// journal is a Syncer standing in for a bridge's durable queue: the inline
// handler appends to it and asks for a sync; Sync waits until the test
// releases it.
type journal struct {
	appended, synced atomic.Int64
	request          func()
	gate             chan struct{}
}

func (j *journal) HandleEvent(msg.Event) {}

func (j *journal) HandleEventInline(ctx context.Context, ev *msg.Event) {
	if ev.Kind == msg.EventMessagePublished && ev.Message.Topic == "j/t" {
		j.appended.Add(1)
		j.request()
	}
}

func (j *journal) Sync(bool) error {
	n := j.appended.Load()
	<-j.gate
	j.synced.Store(n)
	return nil
}

// TestSyncer_pubackWaitsForSync: a QoS 1 message that an inline handler
// appended to a Syncer is acknowledged only after a Sync that covers it,
// with a store and without one.
func TestSyncer_pubackWaitsForSync(t *testing.T) {
	for _, stored := range []bool{false, true} {
		t.Run(map[bool]string{false: "no store", true: "store"}[stored], func(t *testing.T) {
			var s *broker.Server
			var addr string
			if stored {
				b := testutil.StartStoredBroker(t, t.TempDir(), nil)
				s, addr = b.Server, b.Addr
			} else {
				s, addr = testutil.StartBroker(t, nil)
			}
			j := &journal{gate: make(chan struct{})}
			var remove func()
			j.request, remove = s.AddSyncer(j)
			defer remove()
			defer s.AddEventHandler(j)()
			c := connectV5(t, addr, "dev", nil)
			acked := make(chan error, 1)
			go func() {
				_, err := c.Publish(context.Background(), &paho.Publish{Topic: "j/t", QoS: 1, Payload: []byte("x")})
				acked <- err
			}()
			testutil.Eventually(t, 5*time.Second, func() bool { return j.appended.Load() == 1 }, "the handler ran inline")
			select {
			case err := <-acked:
				t.Fatalf("PUBACK before the Syncer synced (%v)", err)
			case <-time.After(100 * time.Millisecond):
			}
			close(j.gate)
			require.NoError(t, <-acked)
			require.Equal(t, int64(1), j.synced.Load(), "the sync that released the PUBACK covered the append")
		})
	}
}
