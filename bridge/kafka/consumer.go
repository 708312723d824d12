package kafka

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/iothub-dev/iothub/bridge"
	"github.com/iothub-dev/iothub/msg"
)

// Encodings of ${key} and ${value} in the consumer's templates.
const (
	EncodingPlain  = "plain"
	EncodingBase64 = "base64"
	EncodingHex    = "hex"
)

// ConsumerFields are the names the consumer's templates may use, besides
// headers.<name>.
var ConsumerFields = []string{"key", "value", "topic", "partition", "offset", "timestamp"}

// ConsumerOptions configure a Consumer.
type ConsumerOptions struct {
	Conn
	// Name is the bridge's name (messages get Origin "bridge:<name>").
	Name string
	// Topics are the Kafka topics, or regular expressions with Regex.
	Topics []string
	Regex  bool
	// Group is the consumer group.
	Group string
	// Offset is where a group without a committed offset starts: latest
	// (default) or earliest.
	Offset string
	// KeyEncoding and ValueEncoding say how ${key} and ${value} render:
	// plain (default), base64 or hex.
	KeyEncoding, ValueEncoding string
	// MQTTTopic is the MQTT topic template (required).
	MQTTTopic string
	// Payload is the payload template ("": the record value as is).
	Payload string
	// QoS and Retain of the published messages.
	QoS    byte
	Retain bool
	// UserProperties copies the record headers to MQTT 5 user properties.
	UserProperties bool
	// SessionTimeout is how long the group coordinator waits for a member's
	// heartbeat before it expires the member and rebalances (default 10s):
	// after a member dies without leaving (kill -9), the group's partitions
	// it held are not consumed for about this long.
	SessionTimeout time.Duration
	// RebalanceTimeout is how long the members have to rejoin during a
	// rebalance (default 30s).
	RebalanceTimeout time.Duration
	// HeartbeatInterval is how often a member heartbeats (default 3s; at
	// most a third of SessionTimeout).
	HeartbeatInterval time.Duration
}

// Group timing defaults (franz-go's own are 45s, 60s and 3s: a dead member
// would stall its partitions for 45 s).
const (
	DefaultSessionTimeout    = 10 * time.Second
	DefaultRebalanceTimeout  = 30 * time.Second
	DefaultHeartbeatInterval = 3 * time.Second
)

// Consumer is a bridge.Source reading Kafka records into the hub.
type Consumer struct {
	o       ConsumerOptions
	kopt    []kgo.Opt
	topic   *bridge.Template
	payload *bridge.Template
	cl      atomic.Pointer[kgo.Client] // while Run runs
	report  atomic.Pointer[func(error)]
}

// NewConsumer checks o and parses its templates.
func NewConsumer(o ConsumerOptions) (*Consumer, error) {
	kopt, err := o.Conn.opts()
	if err != nil {
		return nil, err
	}
	if len(o.Topics) == 0 || o.Group == "" || o.MQTTTopic == "" {
		return nil, fmt.Errorf("kafka consumer: topics, group and mqtt_topic are required")
	}
	c := &Consumer{o: o}
	prefixes := []string{"headers."}
	if c.topic, err = bridge.ParseTemplate(o.MQTTTopic, ConsumerFields, prefixes); err != nil {
		return nil, fmt.Errorf("kafka consumer: mqtt_topic: %w", err)
	}
	if o.Payload != "" {
		if c.payload, err = bridge.ParseTemplate(o.Payload, ConsumerFields, prefixes); err != nil {
			return nil, fmt.Errorf("kafka consumer: payload: %w", err)
		}
	}
	for _, e := range []string{o.KeyEncoding, o.ValueEncoding} {
		if e != "" && e != EncodingPlain && e != EncodingBase64 && e != EncodingHex {
			return nil, fmt.Errorf("kafka consumer: unknown encoding %q (want plain, base64 or hex)", e)
		}
	}
	if o.QoS > 2 {
		return nil, fmt.Errorf("kafka consumer: qos %d is not 0, 1 or 2", o.QoS)
	}
	reset := kgo.NewOffset().AtEnd()
	switch o.Offset {
	case "", "latest":
	case "earliest":
		reset = kgo.NewOffset().AtStart()
	default:
		return nil, fmt.Errorf("kafka consumer: unknown offset reset %q (want latest or earliest)", o.Offset)
	}
	session, rebalance, heartbeat := o.SessionTimeout, o.RebalanceTimeout, o.HeartbeatInterval
	if session <= 0 {
		session = DefaultSessionTimeout
	}
	if rebalance <= 0 {
		rebalance = DefaultRebalanceTimeout
	}
	if heartbeat <= 0 {
		heartbeat = min(DefaultHeartbeatInterval, session/3)
	}
	if heartbeat >= session {
		return nil, fmt.Errorf("kafka consumer: heartbeat_interval %s must be below session_timeout %s", heartbeat, session)
	}
	kopt = append(kopt, kgo.ConsumerGroup(o.Group), kgo.ConsumeTopics(o.Topics...),
		kgo.ConsumeResetOffset(reset), kgo.DisableAutoCommit(),
		kgo.SessionTimeout(session), kgo.RebalanceTimeout(rebalance), kgo.HeartbeatInterval(heartbeat),
		kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) { c.reportErr(nil) }),
		kgo.OnPartitionsRevoked(func(context.Context, *kgo.Client, map[string][]int32) { c.reportErr(bridge.ErrRebalancing) }),
		kgo.OnPartitionsLost(func(context.Context, *kgo.Client, map[string][]int32) { c.reportErr(bridge.ErrRebalancing) }),
		kgo.WithHooks(connectHook{report: c.reportErr}))
	if o.Regex {
		kopt = append(kopt, kgo.ConsumeRegex())
	}
	c.kopt = kopt
	return c, nil
}

// ReportStatus implements bridge.StatusReporter: the status is
// rebalancing from the start of Run (joining the group) and whenever the
// group takes partitions away, until partitions are assigned; a failed
// broker connection is reported with its error.
func (c *Consumer) ReportStatus(report func(error)) { c.report.Store(&report) }

func (c *Consumer) reportErr(err error) {
	if f := c.report.Load(); f != nil {
		(*f)(err)
	}
}

// leaveWait bounds leaving the group and closing the client when Run
// ends: a coordinator in the middle of a rebalance can hold both up.
const leaveWait = 3 * time.Second

// Run consumes until ctx is done (see the package documentation). When
// ctx is done it leaves the group (so that the others get its partitions
// at once, not after the session timeout) and closes the client, each
// bounded by a few seconds.
func (c *Consumer) Run(ctx context.Context, publish func(*msg.Message) error) error {
	cl, err := kgo.NewClient(c.kopt...)
	if err != nil {
		return fmt.Errorf("kafka consumer: %w", err)
	}
	c.cl.Store(cl)
	c.reportErr(bridge.ErrRebalancing) // joining the group
	defer func() {
		c.cl.Store(nil)
		lctx, cancel := context.WithTimeout(context.Background(), leaveWait)
		_ = cl.LeaveGroupContext(lctx)
		cancel()
		done := make(chan struct{})
		go func() { cl.Close(); close(done) }()
		t := time.NewTimer(leaveWait)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
		}
	}()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil || fs.IsClientClosed() {
			return nil
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			ferr = errors.Join(ferr, fmt.Errorf("topic %s partition %d: %w", t, p, err))
		})
		var done []*kgo.Record
		var perr error
		fs.EachRecord(func(r *kgo.Record) {
			if perr != nil {
				return
			}
			if err := publish(c.message(r)); err != nil && !bridge.IsPermanent(err) {
				perr = err
				return
			}
			done = append(done, r)
		})
		if len(done) > 0 {
			if err := cl.CommitRecords(ctx, done...); err != nil && ctx.Err() == nil {
				return fmt.Errorf("kafka consumer: commit: %w", err)
			}
		}
		if perr != nil {
			return fmt.Errorf("kafka consumer: publish: %w", perr)
		}
		if ferr != nil && fs.NumRecords() == 0 {
			return fmt.Errorf("kafka consumer: fetch: %w", ferr)
		}
	}
}

// message builds the MQTT message of record r.
func (c *Consumer) message(r *kgo.Record) *msg.Message {
	lookup := func(name string) []byte { return c.field(r, name) }
	m := &msg.Message{Topic: c.topic.Render(lookup), QoS: c.o.QoS, Retain: c.o.Retain,
		Origin: msg.Origin{Kind: msg.OriginBridge, Name: c.o.Name}, ReceivedAt: time.Now()}
	if c.payload != nil {
		m.Payload = c.payload.Append(nil, lookup)
	} else {
		m.Payload = r.Value
	}
	if c.o.UserProperties {
		for _, h := range r.Headers {
			m.UserProperties = append(m.UserProperties, msg.UserProperty{Key: h.Key, Value: string(h.Value)})
		}
	}
	return m
}

// field renders one template field of r.
func (c *Consumer) field(r *kgo.Record, name string) []byte {
	switch name {
	case "key":
		return encode(r.Key, c.o.KeyEncoding)
	case "value":
		return encode(r.Value, c.o.ValueEncoding)
	case "topic":
		return []byte(r.Topic)
	case "partition":
		return strconv.AppendInt(nil, int64(r.Partition), 10)
	case "offset":
		return strconv.AppendInt(nil, r.Offset, 10)
	case "timestamp":
		return strconv.AppendInt(nil, r.Timestamp.UnixMilli(), 10)
	}
	if key, ok := cutPrefix(name, "headers."); ok {
		for _, h := range r.Headers {
			if h.Key == key {
				return h.Value
			}
		}
	}
	return nil
}

func cutPrefix(s, p string) (string, bool) {
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):], true
	}
	return "", false
}

func encode(b []byte, enc string) []byte {
	switch enc {
	case EncodingBase64:
		return base64.StdEncoding.AppendEncode(nil, b)
	case EncodingHex:
		return hex.AppendEncode(nil, b)
	}
	return b
}

// Health pings the cluster with the running consumer's client.
func (c *Consumer) Health(ctx context.Context) error {
	cl := c.cl.Load()
	if cl == nil {
		return errors.New("kafka consumer: not running")
	}
	if err := cl.Ping(ctx); err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	return nil
}

var (
	_ bridge.Source         = (*Consumer)(nil)
	_ bridge.HealthChecker  = (*Consumer)(nil)
	_ bridge.StatusReporter = (*Consumer)(nil)
)
