package kafka

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync/atomic"
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
	// Topic is the topic every record goes to, when the topic is not a
	// template ("" otherwise): Recover reads its newest records.
	Topic string
}

// Producer is a bridge.Sink writing to Kafka. It keeps one franz-go
// client for its whole life, so that the idempotent producer's session
// (producer id and sequence numbers) survives reconnects and Kafka
// discards the batches franz-go sends again: see the package
// documentation.
type Producer struct {
	o       ProducerOptions
	cl      *kgo.Client
	report  atomic.Pointer[func(error)] // bridge.StatusReporter
	probing atomic.Bool
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
	p := &Producer{o: o}
	kopt = append(append(kopt, popt...), kgo.WithHooks(connectHook{report: p.reportErr, probe: p.probe}))
	cl, err := kgo.NewClient(kopt...) // checks the options; does not dial
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	p.cl = cl
	return p, nil
}

// ReportStatus implements bridge.StatusReporter: a failed connection to
// a broker is reported at once, with the dial error.
func (p *Producer) ReportStatus(report func(error)) { p.report.Store(&report) }

func (p *Producer) reportErr(err error) {
	if f := p.report.Load(); f != nil {
		(*f)(err)
	}
}

// probe pings the cluster once a connection closed, so that a Kafka that
// went away while the bridge is idle shows at once (one probe at a time).
func (p *Producer) probe() {
	if !p.probing.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer p.probing.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := p.cl.Ping(ctx); err != nil && ctx.Err() == nil {
			p.reportErr(fmt.Errorf("kafka: %w", err))
		}
	}()
}

// connectHook reports failed broker connections, and probes the cluster
// when a connection closes.
type connectHook struct {
	report func(error)
	probe  func() // nil: no probe (a consumer polls anyway)
}

// OnBrokerConnect implements kgo.HookBrokerConnect.
func (h connectHook) OnBrokerConnect(meta kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err != nil {
		h.report(fmt.Errorf("kafka: broker %s:%d: %w", meta.Host, meta.Port, err))
	}
}

// OnBrokerDisconnect implements kgo.HookBrokerDisconnect.
func (h connectHook) OnBrokerDisconnect(kgo.BrokerMetadata, net.Conn) {
	if h.probe != nil {
		h.probe()
	}
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

// Send produces recs and waits for their acknowledgements (a pipeline
// of one batch: see Pipeline).
func (p *Producer) Send(ctx context.Context, recs []bridge.Record) error {
	pl, err := p.Pipeline()
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	pl.Send(ctx, recs, func(err error) { done <- err })
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		pl.Abort()
		return <-done
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

// classify marks the errors retrying cannot fix as permanent: a record
// too large or invalid, a topic that is invalid, that the client may not
// write, or that does not exist (franz-go gives up on it after its
// unknown-topic retries, UnknownTopicRetries: about the time the cluster
// takes to create a topic automatically).
func classify(err error) error {
	for _, e := range []error{kerr.MessageTooLarge, kerr.RecordListTooLarge, kerr.InvalidTopicException,
		kerr.InvalidRecord, kerr.CorruptMessage, kerr.InvalidRequiredAcks, kerr.UnknownTopicOrPartition,
		kerr.UnknownTopicID, kerr.TopicAuthorizationFailed, kerr.PolicyViolation, kgo.ErrRecordTimeout} {
		if errors.Is(err, e) {
			return bridge.Permanent(fmt.Errorf("kafka: %w", err))
		}
	}
	return fmt.Errorf("kafka: %w", err)
}

// Health pings the cluster (a metadata request to any broker).
func (p *Producer) Health(ctx context.Context) error {
	if err := p.cl.Ping(ctx); err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	return nil
}

// closeWait bounds Close: a hanging broker can hold franz-go's Close up.
const closeWait = 5 * time.Second

// Close closes the client; the records it still buffers fail (they are in
// the bridge's durable queue and go out with the next run).
func (p *Producer) Close() error {
	done := make(chan struct{})
	go func() { p.cl.Close(); close(done) }()
	t := time.NewTimer(closeWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
	return nil
}

var (
	_ bridge.Sink           = (*Producer)(nil)
	_ bridge.HealthChecker  = (*Producer)(nil)
	_ bridge.StatusReporter = (*Producer)(nil)
)

// DeadLetterErrorHeader carries, on a dead-lettered record, why the
// bridge's own topic refused it.
const DeadLetterErrorHeader = "iothub-error"

// DeadLetter returns a bridge.DeadLetter producing refused records,
// unchanged but for the headers iothub-error and iothub-topic (the topic
// that refused them), to topic with this producer's client.
func (p *Producer) DeadLetter(topic, bridgeName string) bridge.DeadLetter {
	return &deadLetter{p: p, topic: topic, bridge: bridgeName}
}

type deadLetter struct {
	p             *Producer
	topic, bridge string
}

// Write implements bridge.DeadLetter: the records are produced and
// acknowledged before it returns.
func (d *deadLetter) Write(ctx context.Context, recs []bridge.Record, errs []error) error {
	krs := make([]*kgo.Record, len(recs))
	for i := range recs {
		kr := &kgo.Record{}
		setRecord(kr, &recs[i])
		kr.Topic = d.topic
		kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: DeadLetterErrorHeader, Value: []byte(errs[i].Error())},
			kgo.RecordHeader{Key: "iothub-topic", Value: []byte(recs[i].Topic)},
			kgo.RecordHeader{Key: "iothub-bridge", Value: []byte(d.bridge)})
		krs[i] = kr
	}
	if err := d.p.cl.ProduceSync(ctx, krs...).FirstErr(); err != nil {
		return fmt.Errorf("kafka dead letter %s: %w", d.topic, err)
	}
	return nil
}

// Close implements bridge.DeadLetter (the producer owns the client).
func (d *deadLetter) Close() error { return nil }
