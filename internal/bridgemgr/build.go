package bridgemgr

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/iothub-dev/iothub/bridge"
	"github.com/iothub-dev/iothub/bridge/diskqueue"
	"github.com/iothub-dev/iothub/bridge/kafka"
	"github.com/iothub-dev/iothub/bridge/postgres"
	"github.com/iothub-dev/iothub/config"
	"github.com/iothub-dev/iothub/internal/rule"
	"github.com/iothub-dev/iothub/mqtt/topic"
	"github.com/iothub-dev/iothub/msg"
)

// running is a started bridge: a sink runner (producer) or a source
// runner (consumer).
type running struct {
	sink    *bridge.Runner
	mapping *mapping
	source  *bridge.SourceRunner
	// skip, when set, drops a rule output silently (mqtt: loop
	// prevention); decorate adds to a rendered record (mqtt: user
	// properties and the marker).
	skip     func(*rule.Output) bool
	decorate func(*rule.Output, *bridge.Record)
}

func (r *running) close(ctx context.Context) error {
	var err error
	if r.source != nil {
		err = r.source.Close(ctx)
	}
	if r.sink != nil {
		err = errors.Join(err, r.sink.Close(ctx))
	}
	return err
}

// check validates def and parses its templates without starting anything.
func check(def *config.Bridge) error {
	if err := config.ValidateBridge(def); err != nil {
		return err
	}
	switch def.Type {
	case config.BridgeKafkaProducer:
		if _, err := newMapping(&def.Producer); err != nil {
			return err
		}
		p, err := kafka.NewProducer(producerOptions(def, nil))
		if err == nil {
			_ = p.Close()
		}
		return err
	case config.BridgeKafkaConsumer:
		_, err := kafka.NewConsumer(consumerOptions(def, nil))
		return err
	case config.BridgeMQTT:
		return checkMQTT(def)
	case config.BridgePostgres:
		tpl, o, err := postgresSink(def, nil)
		if err == nil {
			_, err = newSinkMapping(tpl)
		}
		if err == nil {
			var s *postgres.Sink
			if s, err = postgres.New(o); err == nil {
				_ = s.Close()
			}
		}
		return err
	case config.BridgeRedis:
		return checkRedis(def)
	case config.BridgeWebhook:
		return checkWebhook(def)
	}
	return nil
}

// start builds and starts the bridge def.
func (m *Manager) start(def *config.Bridge) (*running, error) {
	log := m.log.With("bridge", def.Name)
	conn, err := connOptions(def, log)
	if err != nil {
		return nil, err
	}
	switch def.Type {
	case config.BridgeKafkaProducer:
		mp, err := newMapping(&def.Producer)
		if err != nil {
			return nil, err
		}
		o := producerOptions(def, &conn)
		p, err := kafka.NewProducer(o)
		if err != nil {
			return nil, err
		}
		return m.startSink(def, p, mp)
	case config.BridgeKafkaConsumer:
		c, err := kafka.NewConsumer(consumerOptions(def, &conn))
		if err != nil {
			return nil, err
		}
		s := bridge.NewSourceRunner(c, m.publishFunc(), bridge.SourceOptions{Name: def.Name, Logger: m.log})
		s.Start()
		return &running{source: s}, nil
	case config.BridgeMQTT:
		return m.startMQTT(def, log)
	case config.BridgePostgres:
		tpl, o, err := postgresSink(def, log)
		if err != nil {
			return nil, err
		}
		mp, err := newSinkMapping(tpl)
		if err != nil {
			return nil, err
		}
		s, err := postgres.New(o)
		if err != nil {
			return nil, err
		}
		return m.startSink(def, s, mp)
	case config.BridgeRedis:
		return m.startRedis(def, log)
	case config.BridgeWebhook:
		return m.startWebhook(def, log)
	}
	return nil, fmt.Errorf("bridge %s: unknown type %q", def.Name, def.Type)
}

// startSink runs sink under the shared delivery engine, with its dead
// letter (closing both when the runner cannot be made).
func (m *Manager) startSink(def *config.Bridge, sink bridge.Sink, mp *mapping) (*running, error) {
	o := runnerOptions(def, m.dataDir, m.log)
	o.RequestSync = m.requestSync
	dl, err := m.deadLetter(def, sink)
	if err != nil {
		_ = sink.Close()
		return nil, err
	}
	o.DeadLetter = dl
	r, err := bridge.NewRunner(sink, o)
	if err != nil {
		_ = sink.Close()
		if dl != nil {
			_ = dl.Close()
		}
		return nil, err
	}
	r.Start()
	return &running{sink: r, mapping: mp}, nil
}

// QueueDir is where bridge name keeps its disk queue.
func QueueDir(dataDir, name string) string { return filepath.Join(dataDir, "bridges", name) }

func runnerOptions(def *config.Bridge, dataDir string, log *slog.Logger) bridge.Options {
	b, p := def.Buffer, def.Producer
	o := bridge.Options{
		Name: def.Name, Dir: QueueDir(dataDir, def.Name), Logger: log,
		BatchSize: p.BatchSize, MemoryRecords: b.MemoryRecords, SendTimeout: p.SendTimeout.D(),
		Disk: diskqueue.Options{MaxBytes: int64(b.MaxBytes), SegmentBytes: int64(b.SegmentBytes),
			FullPolicy: diskqueue.FullPolicy(b.FullPolicy), Fsync: diskqueue.FsyncPolicy(b.Fsync),
			FsyncInterval: b.FsyncInterval.D()},
	}
	switch def.Type {
	case config.BridgeKafkaProducer:
		if p.Mode == "sync" {
			o.MaxInflightBatches = 1 // one record acknowledged at a time
		}
	case config.BridgeWebhook:
		// One device's records go one request after the other: a batch of
		// a few requests per connection finishes well within send_timeout
		// even against a slow receiver.
		o.BatchSize = min(o.BatchSize, 4*def.Webhook.PoolSize)
	}
	return o
}

// connOptions maps the connection settings, loading TLS files.
func connOptions(def *config.Bridge, log *slog.Logger) (kafka.Conn, error) {
	k := def.Kafka
	c := kafka.Conn{Brokers: k.BootstrapServers, ClientID: k.ClientID, SASLMechanism: k.SASL.Mechanism,
		SASLUser: k.SASL.Username, SASLPassword: string(k.SASL.Password), DialTimeout: k.DialTimeout.D(),
		RequestTimeout: k.RequestTimeout.D(), MetadataMaxAge: k.MetadataRefresh.D(), Logger: log}
	if !k.TLS.Enabled {
		return c, nil
	}
	tc := &tls.Config{ServerName: k.TLS.ServerName, InsecureSkipVerify: k.TLS.InsecureSkipVerify, //nolint:gosec // an explicit, documented test setting
		MinVersion: tls.VersionTLS12}
	if k.TLS.CAFile != "" {
		pem, err := os.ReadFile(k.TLS.CAFile)
		if err != nil {
			return c, fmt.Errorf("kafka.tls.ca_file: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return c, fmt.Errorf("kafka.tls.ca_file: no PEM certificate in %s", k.TLS.CAFile)
		}
	}
	if k.TLS.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(k.TLS.CertFile, k.TLS.KeyFile)
		if err != nil {
			return c, fmt.Errorf("kafka.tls.cert_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	c.TLS = tc
	return c, nil
}

func producerOptions(def *config.Bridge, conn *kafka.Conn) kafka.ProducerOptions {
	p := def.Producer
	o := kafka.ProducerOptions{Partitioner: p.Partitioner, Sync: p.Mode == "sync", Linger: p.Linger.D(),
		MaxInflight: p.MaxInflight, Acks: p.Acks, Idempotent: p.Idempotent, Compression: p.Compression}
	if conn != nil {
		o.Conn = *conn
	} else {
		o.Brokers, o.ClientID = def.Kafka.BootstrapServers, def.Kafka.ClientID
		o.SASLMechanism = def.Kafka.SASL.Mechanism
	}
	return o
}

func consumerOptions(def *config.Bridge, conn *kafka.Conn) kafka.ConsumerOptions {
	c := def.Consumer
	group := c.Group
	if group == "" {
		group = "iothub-" + def.Name
	}
	o := kafka.ConsumerOptions{Name: def.Name, Topics: c.Topics, Regex: c.TopicsRegex, Group: group,
		Offset: c.Offset, KeyEncoding: c.KeyEncoding, ValueEncoding: c.ValueEncoding, MQTTTopic: c.MQTTTopic,
		Payload: c.Payload, QoS: byte(c.QoS), Retain: c.Retain, UserProperties: c.UserProperties,
		SessionTimeout: c.SessionTimeout.D(), RebalanceTimeout: c.RebalanceTimeout.D(), HeartbeatInterval: c.HeartbeatInterval.D()}
	if conn != nil {
		o.Conn = *conn
	} else {
		o.Brokers, o.ClientID = def.Kafka.BootstrapServers, def.Kafka.ClientID
		o.SASLMechanism = def.Kafka.SASL.Mechanism
	}
	return o
}

// publishFunc publishes a consumed message into the hub; a topic that is
// not a valid topic name is a permanent error (skipped and counted).
func (m *Manager) publishFunc() func(*msg.Message) error {
	return func(mm *msg.Message) error {
		if err := topic.ValidateName(mm.Topic); err != nil {
			return bridge.Permanent(fmt.Errorf("topic %q: %w", mm.Topic, err))
		}
		if m.pub == nil {
			return bridge.Permanent(fmt.Errorf("no publisher"))
		}
		if _, err := m.pub.Publish(context.Background(), mm); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		return nil
	}
}
