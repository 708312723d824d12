package lock

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Consume reads topic as a member of consumer group group — a new group
// starts at the oldest record — and hands each record's value to handle,
// in order per partition (per lock: the hub keys records by client id),
// until ctx ends. franz-go commits the offsets every few seconds and on
// the way out: at least once, so handle must tolerate a repeat.
func Consume(ctx context.Context, brokers, group, topic string, log *slog.Logger, handle func(value []byte)) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...), kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return fmt.Errorf("lock: kafka client: %w", err)
	}
	defer cl.Close()
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachError(func(t string, p int32, err error) {
			if ctx.Err() == nil {
				log.Warn("fetch failed", "topic", t, "partition", p, "error", err.Error())
			}
		})
		fs.EachRecord(func(r *kgo.Record) { handle(r.Value) })
	}
	return nil
}
