package lock

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

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

// Post sends body, as JSON, to the hub's HTTP API at url with API key key,
// and returns the answer's status and body.
func Post(ctx context.Context, url, key string, body any) (status int, answer []byte, err error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, nil, fmt.Errorf("lock: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return 0, nil, fmt.Errorf("lock: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("lock: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	answer, err = io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("lock: %s: %w", url, err)
	}
	return resp.StatusCode, answer, nil
}
