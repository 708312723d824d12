package shadow

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/device/thing"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/msg"
	"github.com/iothub-dev/iothub/storage/memstore"
)

func newService(t *testing.T, pub thing.Publisher, queue int) *Service {
	t.Helper()
	s := New(Options{Store: NewKVStore(memstore.New(), true), Publisher: pub, Workers: 2, QueueSize: queue})
	t.Cleanup(func() { require.NoError(t, s.Close(context.Background())) })
	return s
}

func mqttRequest(s *Service, topic, payload string) {
	tp, _ := thing.Parse(topic)
	s.HandleMessage(tp, &msg.Message{Topic: topic, Payload: []byte(payload)})
}

func TestService_mqttRequests(t *testing.T) {
	rec := testutil.NewPublisher()
	s := newService(t, rec, 16)
	pre := "$aws/things/lock-1/shadow/"
	mqttRequest(s, pre+"update", `{"state":{"reported":{"lock":1}},"clientToken":"c1"}`)
	acc := decode(t, rec.Next(t, pre+"update/accepted").Payload)
	require.Equal(t, "c1", acc["clientToken"])
	require.Equal(t, 1.0, acc["version"])

	mqttRequest(s, pre+"update", `{"state":{"reported":{"lock":0}},"version":7,"clientToken":"c2"}`)
	rej := decode(t, rec.Next(t, pre+"update/rejected").Payload)
	require.Equal(t, map[string]any{"code": 409.0, "message": "Version conflict", "clientToken": "c2", "timestamp": rej["timestamp"]}, rej)

	// A named shadow is separate from the classic one.
	mqttRequest(s, pre+"name/cfg/get", ``)
	require.Equal(t, 404.0, decode(t, rec.Next(t, pre+"name/cfg/get/rejected").Payload)["code"])
	mqttRequest(s, pre+"name/cfg/update", `{"state":{"desired":{"interval":60}}}`)
	rec.Next(t, pre+"name/cfg/update/accepted")
	rec.Next(t, pre+"name/cfg/update/delta")
	names, more, err := s.Names("lock-1", "", 10)
	require.NoError(t, err)
	require.False(t, more)
	require.Equal(t, []string{"cfg"}, names)

	// The API's update publishes the same documents.
	b, err := s.Update(context.Background(), "lock-1", "", []byte(`{"state":{"desired":{"lock":0}}}`))
	require.NoError(t, err)
	require.Equal(t, 2.0, decode(t, b)["version"])
	dl := decode(t, rec.Next(t, pre+"update/delta").Payload)
	require.Equal(t, map[string]any{"lock": 0.0}, dl["state"])

	_, err = s.Delete(context.Background(), "lock-1", "cfg")
	require.NoError(t, err)
	_, err = s.Get(context.Background(), "lock-1", "cfg")
	e, ok := AsError(err)
	require.True(t, ok)
	require.Equal(t, 404, e.Code)
	names, _, err = s.Names("lock-1", "", 10)
	require.NoError(t, err)
	require.Empty(t, names)
}

// blockingPublisher holds every publish until released, so a worker can be
// kept busy.
type blockingPublisher struct {
	testutil.Publisher
	release chan struct{}
}

func (b *blockingPublisher) Publish(ctx context.Context, m *msg.Message) (int, error) {
	if m.Topic != "$aws/things/t/shadow/update/rejected" {
		<-b.release
	}
	return b.Publisher.Publish(ctx, m)
}

func TestService_fullQueueAnswers429(t *testing.T) {
	bp := &blockingPublisher{Publisher: testutil.NewPublisher(), release: make(chan struct{})}
	s := New(Options{Store: NewKVStore(memstore.New(), false), Publisher: bp, Workers: 1, QueueSize: 1})
	defer func() { close(bp.release); require.NoError(t, s.Close(context.Background())) }()
	// The first request blocks its worker in Publish; the next fills the
	// queue; the third finds it full.
	for i := 0; i < 3; i++ {
		mqttRequest(s, "$aws/things/t/shadow/update", `{"state":{"reported":{"n":1}},"clientToken":"x"}`)
	}
	require.Eventually(t, func() bool { return s.Stats().Busy >= 1 }, 10*time.Second, time.Millisecond)
	rej := decode(t, bp.Next(t, "$aws/things/t/shadow/update/rejected").Payload)
	require.Equal(t, 429.0, rej["code"])
	require.Equal(t, "x", rej["clientToken"])
}

func TestParseRequest(t *testing.T) {
	tests := []struct {
		rest, name string
		op         op
		ok         bool
	}{
		{"update", "", opUpdate, true},
		{"get", "", opGet, true},
		{"name/cfg/delete", "cfg", opDelete, true},
		{"update/accepted", "", 0, false},
		{"name/cfg", "", 0, false},
		{"name//get", "", 0, false},
		{"name/cfg/update/delta", "", 0, false},
	}
	for _, tc := range tests {
		name, o, ok := parseRequest(tc.rest)
		require.Equal(t, tc.ok, ok, tc.rest)
		require.Equal(t, tc.name, name, tc.rest)
		require.Equal(t, tc.op, o, tc.rest)
	}
}

// TestService_batch runs requests for one shadow as one batch: each sees
// the previous one's result, a refused one leaves nothing behind, and all
// are stored with one write.
func TestService_batch(t *testing.T) {
	rec := testutil.NewPublisher()
	s := newService(t, rec, 16)
	big := strings.Repeat("x", 9000)
	reqs := []*request{
		{op: opUpdate, thing: "t", payload: []byte(`{"state":{"reported":{"a":1}}}`)},
		{op: opUpdate, thing: "t", payload: []byte(`{"state":{"reported":{"b":"` + big + `"}}}`)},
		{op: opUpdate, thing: "t", payload: []byte(`{"state":{"reported":{"c":3}},"version":1}`)},
		{op: opGet, thing: "t"},
	}
	for _, r := range reqs {
		r.done = make(chan outcome, 1)
	}
	s.processBatch(reqs)
	outs := make([]outcome, len(reqs))
	for i, r := range reqs {
		outs[i] = <-r.done
	}
	require.Nil(t, outs[0].err)
	require.Equal(t, 413, outs[1].err.Code)
	require.Nil(t, outs[2].err, "version 1 is the first update's")
	g := decode(t, outs[3].accepted)
	require.Equal(t, map[string]any{"a": 1.0, "c": 3.0}, g["state"].(map[string]any)["reported"], "the refused field is not there")
	require.Equal(t, 2.0, g["version"])
	stored, err := s.o.Store.Get("t", "")
	require.NoError(t, err)
	require.Equal(t, uint64(2), stored.Version)
}
