package lock

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

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

// Decode parses a record the hub wrote to Kafka (ParseRecord) and decodes
// its payload, a JSON document, into a T.
func Decode[T any](value []byte) (Record, T, error) {
	var v T
	rec, payload, err := ParseRecord(value)
	if err == nil {
		err = json.Unmarshal(payload, &v)
	}
	return rec, v, err
}

// ConsumerFlags defines the flags every consumer service has: --brokers
// and --group, whose default is "doorlock-" and the service's name.
func ConsumerFlags(name string) (brokers, group *string) {
	brokers = flag.String("brokers", "127.0.0.1:9092", "Kafka bootstrap servers, comma-separated")
	group = flag.String("group", "doorlock-"+name, "consumer group")
	return brokers, group
}

// Serve runs a consumer service until SIGINT or SIGTERM: it logs JSON
// lines to stdout and hands each record of topic, read in consumer group
// group (Consume), to handle. An error ends the program with status 1, its
// message prefixed with name.
func Serve(name, brokers, group, topic string, handle func(ctx context.Context, log *slog.Logger, value []byte)) {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := Consume(ctx, brokers, group, topic, log, func(value []byte) { handle(ctx, log, value) })
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		stop()
		os.Exit(1)
	}
}
