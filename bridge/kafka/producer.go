package kafka

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/iothub-dev/iothub/bridge"
)

// Partitioners.
const (
	// PartitionHash picks the partition from a murmur2 hash of the key,
	// as the Java client does (records without a key: sticky).
	PartitionHash = "hash"
	// PartitionRandom picks a random partition per record.
	PartitionRandom = "random"
	// PartitionRoundRobin cycles through the partitions.
	PartitionRoundRobin = "round_robin"
)

// Acks values.
const (
	AcksAll    = "all"
	AcksLeader = "leader"
	AcksNone   = "none"
)

// ProducerOptions configure a Producer.
type ProducerOptions struct {
	Conn
	// Partitioner is hash (default), random or round_robin.
	Partitioner string
	// Sync produces each record and waits for its acknowledgement before
	// the next; otherwise a batch is produced at once.
	Sync bool
	// Linger is how long franz-go waits to fill a batch (async mode).
	Linger time.Duration
	// MaxInflight is the number of produce requests in flight per broker
	// (default 5, at most 5 with the idempotent producer).
	MaxInflight int
	// Acks is all (default), leader or none.
	Acks string
	// Idempotent enables the idempotent producer (needs acks all).
	Idempotent bool
	// Compression is none (default), gzip, snappy, lz4 or zstd.
	Compression string
	// MaxBufferedRecords bounds franz-go's buffer (default 100000).
	MaxBufferedRecords int
}

// Producer is a bridge.Sink writing to Kafka.
type Producer struct {
	o    ProducerOptions
	kopt []kgo.Opt

	mu sync.Mutex
	cl *kgo.Client // nil until used, and after a failure
}

// NewProducer checks o and returns a producer. It does not connect:
// an unreachable cluster shows in the bridge status, not as an error here.
func NewProducer(o ProducerOptions) (*Producer, error) {
	kopt, err := o.Conn.opts()
	if err != nil {
		return nil, err
	}
	popt, err := o.producerOpts()
	if err != nil {
		return nil, err
	}
	p := &Producer{o: o, kopt: append(kopt, popt...)}
	cl, err := kgo.NewClient(p.kopt...) // checks the options; does not dial
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	p.cl = cl
	return p, nil
}

func (o *ProducerOptions) producerOpts() ([]kgo.Opt, error) {
	var out []kgo.Opt
	switch o.Partitioner {
	case "", PartitionHash:
		out = append(out, kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	case PartitionRandom:
		out = append(out, kgo.RecordPartitioner(kgo.BasicConsistentPartitioner(func(string) func(*kgo.Record, int) int {
			return func(_ *kgo.Record, n int) int { return rand.IntN(n) } //nolint:gosec // load spreading
		})))
	case PartitionRoundRobin:
		out = append(out, kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	default:
		return nil, fmt.Errorf("kafka: unknown partitioner %q (want hash, random or round_robin)", o.Partitioner)
	}
	switch o.Acks {
	case "", AcksAll:
		out = append(out, kgo.RequiredAcks(kgo.AllISRAcks()))
	case AcksLeader:
		out = append(out, kgo.RequiredAcks(kgo.LeaderAck()))
	case AcksNone:
		out = append(out, kgo.RequiredAcks(kgo.NoAck()))
	default:
		return nil, fmt.Errorf("kafka: unknown acks %q (want all, leader or none)", o.Acks)
	}
	if !o.idempotent() {
		out = append(out, kgo.DisableIdempotentWrite())
	}
	if o.Linger > 0 {
		out = append(out, kgo.ProducerLinger(o.Linger))
	}
	if o.MaxInflight > 0 && !o.idempotent() { // franz-go manages it for the idempotent producer (≤ 5)
		out = append(out, kgo.MaxProduceRequestsInflightPerBroker(o.MaxInflight))
	}
	out = append(out, kgo.MaxBufferedRecords(max(o.MaxBufferedRecords, 100000)))
	codec, err := compression(o.Compression)
	if err != nil {
		return nil, err
	}
	return append(out, kgo.ProducerBatchCompression(codec)), nil
}

func (o *ProducerOptions) idempotent() bool {
	return o.Idempotent && (o.Acks == "" || o.Acks == AcksAll)
}

func compression(s string) (kgo.CompressionCodec, error) {
	switch s {
	case "", "none":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.NoCompression(), fmt.Errorf("kafka: unknown compression %q (want none, gzip, snappy, lz4 or zstd)", s)
}

// client returns the current client, creating one when needed.
func (p *Producer) client() (*kgo.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cl != nil {
		return p.cl, nil
	}
	cl, err := kgo.NewClient(p.kopt...)
	if err != nil {
		return nil, bridge.Permanent(fmt.Errorf("kafka: %w", err))
	}
	p.cl = cl
	return cl, nil
}

// reset discards the client after a failure; its buffered records fail
// (see the package documentation). Close runs in the background because
// a hanging broker can hold it up.
func (p *Producer) reset(cl *kgo.Client) {
	p.mu.Lock()
	if p.cl == cl {
		p.cl = nil
	}
	p.mu.Unlock()
	go cl.Close()
}

// Send produces recs and waits for their acknowledgements.
func (p *Producer) Send(ctx context.Context, recs []bridge.Record) error {
	cl, err := p.client()
	if err != nil {
		return err
	}
	if p.o.Sync {
		err = p.sendSync(ctx, cl, recs)
	} else {
		err = p.sendAsync(ctx, cl, recs)
	}
	if err != nil {
		p.reset(cl)
		return classify(err)
	}
	return nil
}

func (p *Producer) sendSync(ctx context.Context, cl *kgo.Client, recs []bridge.Record) error {
	for i := range recs {
		var kr kgo.Record
		setRecord(&kr, &recs[i])
		if err := cl.ProduceSync(ctx, &kr).FirstErr(); err != nil {
			return err
		}
	}
	return nil
}

func (p *Producer) sendAsync(ctx context.Context, cl *kgo.Client, recs []bridge.Record) error {
	var (
		mu    sync.Mutex
		first error
		left  = len(recs)
		done  = make(chan struct{})
	)
	promise := func(_ *kgo.Record, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil && first == nil {
			first = err
		}
		if left--; left == 0 {
			close(done)
		}
	}
	krs := make([]kgo.Record, len(recs)) // one allocation per batch
	for i := range recs {
		setRecord(&krs[i], &recs[i])
		cl.Produce(ctx, &krs[i], promise)
	}
	select {
	case <-done:
		mu.Lock()
		defer mu.Unlock()
		return first
	case <-ctx.Done():
		return ctx.Err()
	}
}

// setRecord fills kr, a zero record, from r.
func setRecord(kr *kgo.Record, r *bridge.Record) {
	kr.Topic, kr.Key, kr.Value, kr.Timestamp = r.Topic, r.Key, r.Value, r.Time
	if len(r.Headers) > 0 {
		kr.Headers = make([]kgo.RecordHeader, len(r.Headers))
		for i, h := range r.Headers {
			kr.Headers[i] = kgo.RecordHeader{Key: h.Key, Value: h.Value}
		}
	}
}

// classify marks the errors retrying cannot fix as permanent.
func classify(err error) error {
	for _, e := range []error{kerr.MessageTooLarge, kerr.RecordListTooLarge, kerr.InvalidTopicException,
		kerr.InvalidRecord, kerr.CorruptMessage, kerr.InvalidRequiredAcks} {
		if errors.Is(err, e) {
			return bridge.Permanent(fmt.Errorf("kafka: %w", err))
		}
	}
	return fmt.Errorf("kafka: %w", err)
}

// Health pings the cluster (a metadata request to any broker).
func (p *Producer) Health(ctx context.Context) error {
	cl, err := p.client()
	if err != nil {
		return err
	}
	if err := cl.Ping(ctx); err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	return nil
}

// Close closes the client.
func (p *Producer) Close() error {
	p.mu.Lock()
	cl := p.cl
	p.cl = nil
	p.mu.Unlock()
	if cl != nil {
		cl.Close()
	}
	return nil
}

var (
	_ bridge.Sink          = (*Producer)(nil)
	_ bridge.HealthChecker = (*Producer)(nil)
)
