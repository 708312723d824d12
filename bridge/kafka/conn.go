package kafka

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// SASL mechanisms.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// Conn is how to reach a Kafka cluster.
type Conn struct {
	// Brokers are the bootstrap servers, host:port.
	Brokers []string
	// ClientID is the Kafka client id.
	ClientID string
	// TLS, when set, encrypts the connections.
	TLS *tls.Config
	// SASLMechanism is "" (none), PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	SASLMechanism, SASLUser, SASLPassword string
	// DialTimeout bounds a connection attempt (default 10s).
	DialTimeout time.Duration
	// RequestTimeout is added to each request's own timeout as the time
	// allowed for the network (franz-go's RequestTimeoutOverhead; default 10s).
	RequestTimeout time.Duration
	// MetadataMaxAge is how often metadata is refreshed (default 5m).
	MetadataMaxAge time.Duration
	// Logger receives franz-go's warnings and errors.
	Logger *slog.Logger
}

// opts returns the franz-go options for c.
func (c *Conn) opts() ([]kgo.Opt, error) {
	if len(c.Brokers) == 0 {
		return nil, fmt.Errorf("kafka: no bootstrap servers")
	}
	o := []kgo.Opt{kgo.SeedBrokers(c.Brokers...)}
	if c.ClientID != "" {
		o = append(o, kgo.ClientID(c.ClientID))
	}
	if c.TLS != nil {
		o = append(o, kgo.DialTLSConfig(c.TLS))
	}
	if c.DialTimeout > 0 {
		o = append(o, kgo.DialTimeout(c.DialTimeout))
	}
	if c.RequestTimeout > 0 {
		o = append(o, kgo.RequestTimeoutOverhead(c.RequestTimeout))
	}
	if c.MetadataMaxAge > 0 {
		o = append(o, kgo.MetadataMaxAge(c.MetadataMaxAge))
	}
	if c.Logger != nil {
		o = append(o, kgo.WithLogger(kgoLogger{c.Logger}))
	}
	switch strings.ToUpper(c.SASLMechanism) {
	case "":
	case SASLPlain:
		o = append(o, kgo.SASL(plain.Auth{User: c.SASLUser, Pass: c.SASLPassword}.AsMechanism()))
	case SASLScramSHA256:
		o = append(o, kgo.SASL(scram.Auth{User: c.SASLUser, Pass: c.SASLPassword}.AsSha256Mechanism()))
	case SASLScramSHA512:
		o = append(o, kgo.SASL(scram.Auth{User: c.SASLUser, Pass: c.SASLPassword}.AsSha512Mechanism()))
	default:
		return nil, fmt.Errorf("kafka: unknown SASL mechanism %q (want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)", c.SASLMechanism)
	}
	return o, nil
}

// kgoLogger adapts slog to franz-go's logger, errors only (its warnings repeat every retry during an outage, which the bridge status already reports).
type kgoLogger struct{ l *slog.Logger }

func (k kgoLogger) Level() kgo.LogLevel { return kgo.LogLevelError }

func (k kgoLogger) Log(level kgo.LogLevel, m string, kv ...any) {
	switch level {
	case kgo.LogLevelError:
		k.l.Error("kafka: "+m, kv...)
	case kgo.LogLevelWarn:
		k.l.Warn("kafka: "+m, kv...)
	default:
		k.l.Debug("kafka: "+m, kv...)
	}
}
