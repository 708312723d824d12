package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/iothub-dev/iothub/bridge"
	"github.com/iothub-dev/iothub/bridge/kafka"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/msg"
)

// cluster starts an in-process kfake on loopback with topics.
func cluster(t *testing.T, topics ...string) string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, topics...))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

// values reads every record value of topic, in order per partition.
func values(t *testing.T, addr, topic string, n int) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []string
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		require.NoError(t, ctx.Err(), "%d of %d records", len(out), n)
		fs.EachRecord(func(r *kgo.Record) { out = append(out, string(r.Value)) })
	}
	return out
}

func newProducer(t *testing.T, addr string, o kafka.ProducerOptions) *kafka.Producer {
	t.Helper()
	o.Conn = kafka.Conn{Brokers: []string{addr}, Logger: testutil.Logger(t)}
	p, err := kafka.NewProducer(o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// TestProducer_recordFates: a batch with a record for a topic that does
// not exist reports that record as permanent and delivers the others, in
// async and sync mode; the Kafka dead letter keeps the refused record with
// the error in a header.
func TestProducer_recordFates(t *testing.T) {
	for _, sync := range []bool{false, true} {
		t.Run(fmt.Sprintf("sync=%v", sync), func(t *testing.T) {
			addr := cluster(t, "good", "dead")
			p := newProducer(t, addr, kafka.ProducerOptions{Idempotent: true, Sync: sync})
			recs := []bridge.Record{
				{Topic: "good", Key: []byte("k"), Value: []byte("1")},
				{Topic: "missing", Key: []byte("k"), Value: []byte("2")},
				{Topic: "good", Key: []byte("k"), Value: []byte("3")},
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			err := p.Send(ctx, recs)
			var be *bridge.BatchError
			require.ErrorAs(t, err, &be)
			require.NoError(t, be.Errs[0])
			require.True(t, bridge.IsPermanent(be.Errs[1]), "%v", be.Errs[1])
			require.NoError(t, be.Errs[2])
			require.Equal(t, []string{"1", "3"}, values(t, addr, "good", 2))

			dl := p.DeadLetter("dead", "b")
			require.NoError(t, dl.Write(ctx, recs[1:2], be.Errs[1:2]))
			cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("dead"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			require.NoError(t, err)
			defer cl.Close()
			fs := cl.PollFetches(ctx)
			require.Equal(t, 1, fs.NumRecords())
			r := fs.Records()[0]
			require.Equal(t, "2", string(r.Value))
			h := map[string]string{}
			for _, x := range r.Headers {
				h[x.Key] = string(x.Value)
			}
			require.Equal(t, "missing", h["iothub-topic"])
			require.Contains(t, h[kafka.DeadLetterErrorHeader], "UNKNOWN_TOPIC_OR_PARTITION")
		})
	}
}

// TestProducer_reportsDialErrorAtOnce: with no broker listening, the
// status reporter gets the dial error from a health check, not a context
// error; Health fails.
func TestProducer_reportsDialErrorAtOnce(t *testing.T) {
	p := newProducer(t, "127.0.0.1:1", kafka.ProducerOptions{})
	got := make(chan error, 10)
	p.ReportStatus(func(err error) {
		select {
		case got <- err:
		default:
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.Error(t, p.Health(ctx))
	select {
	case err := <-got:
		require.Error(t, err)
		require.Contains(t, err.Error(), "127.0.0.1:1")
		require.False(t, errors.Is(err, context.Canceled))
	case <-time.After(30 * time.Second):
		t.Fatal("no status report")
	}
}

// TestProducer_pipelineKeepsOrderPerKey: batches pipelined through the
// runner reach Kafka in order per key, each record once.
func TestProducer_pipelineKeepsOrderPerKey(t *testing.T) {
	addr := cluster(t, "t")
	p := newProducer(t, addr, kafka.ProducerOptions{Idempotent: true, Linger: time.Millisecond})
	r, err := bridge.NewRunner(p, bridge.Options{Name: "k", Dir: t.TempDir(), Logger: testutil.Logger(t), BatchSize: 50})
	require.NoError(t, err)
	r.Start()
	defer r.Close(context.Background())
	const n = 1000
	for i := range n {
		require.NoError(t, r.Enqueue(bridge.Record{Topic: "t", Key: []byte("one-key"), Value: fmt.Appendf(nil, "%d", i)}))
	}
	got := values(t, addr, "t", n)
	for i, v := range got {
		require.Equal(t, fmt.Sprint(i), v)
	}
	testutil.Eventually(t, 30*time.Second, func() bool { return r.Metrics().Sent == n }, "all acknowledged")
}

// TestConsumer_statusAndCommit: a consumer reports rebalancing while it
// joins its group, connected once partitions are assigned, publishes each
// record, and leaves the group when Run ends.
func TestConsumer_statusAndCommit(t *testing.T) {
	addr := cluster(t, "cmd")
	c, err := kafka.NewConsumer(kafka.ConsumerOptions{Conn: kafka.Conn{Brokers: []string{addr}}, Name: "c",
		Topics: []string{"cmd"}, Group: "g", Offset: "earliest", MQTTTopic: "devices/${key}/command", QoS: 1,
		SessionTimeout: 6 * time.Second})
	require.NoError(t, err)
	var mu sync.Mutex
	var states []string
	c.ReportStatus(func(err error) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case errors.Is(err, bridge.ErrRebalancing):
			states = append(states, "rebalancing")
		case err == nil:
			states = append(states, "connected")
		}
	})
	got := make(chan *msg.Message, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, func(m *msg.Message) error { got <- m; return nil }) }()
	pcl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	require.NoError(t, err)
	defer pcl.Close()
	require.NoError(t, pcl.ProduceSync(context.Background(), &kgo.Record{Topic: "cmd", Key: []byte("lock-1"), Value: []byte("unlock")}).FirstErr())
	select {
	case m := <-got:
		require.Equal(t, "devices/lock-1/command", m.Topic)
		require.Equal(t, "unlock", string(m.Payload))
		require.Equal(t, msg.Origin{Kind: msg.OriginBridge, Name: "c"}, m.Origin)
	case <-time.After(60 * time.Second):
		t.Fatal("no record consumed")
	}
	cancel()
	require.NoError(t, <-done)
	mu.Lock()
	defer mu.Unlock()
	require.GreaterOrEqual(t, len(states), 2)
	require.Equal(t, "rebalancing", states[0], "joining the group")
	require.Contains(t, states, "connected")
}
