package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/iothub-dev/iothub/bridge"
)

// Commands.
const (
	// Publish sends PUBLISH <Topic> <Value>.
	Publish = "publish"
	// XAdd sends XADD <Topic> [MAXLEN ~ n] * <fields>.
	XAdd = "xadd"
	// HSet sends HSET <Topic> <fields> [and PEXPIRE <Topic> <ttl>].
	HSet = "hset"
	// Set sends SET <Topic> <Value> [PX <ttl>].
	Set = "set"
)

// Deployments.
const (
	Standalone = "standalone"
	Sentinel   = "sentinel"
	Cluster    = "cluster"
)

// Options configure a Sink.
type Options struct {
	// Deployment is standalone (default), sentinel or cluster.
	Deployment string
	// Addresses are host:port of the server, the sentinels, or cluster
	// seed nodes.
	Addresses []string
	// MasterName is the master's name in the sentinels.
	MasterName string
	// Username and Password authenticate (AUTH).
	Username, Password string
	// SentinelUsername and SentinelPassword authenticate to sentinels.
	SentinelUsername, SentinelPassword string
	// DB is the database number (not with cluster).
	DB int
	// TLS, when set, encrypts the connections.
	TLS *tls.Config
	// PoolSize bounds the connections per server (default 10).
	PoolSize int
	// DialTimeout bounds a connection attempt (default 5s).
	DialTimeout time.Duration
	// Command is publish, xadd, hset or set.
	Command string
	// FieldsFromHeaders takes the hset and xadd fields from the record
	// headers (field templates) instead of the JSON object value.
	FieldsFromHeaders bool
	// TTL expires hset and set keys (0: never).
	TTL time.Duration
	// MaxLen trims xadd streams to about this many entries (0: never).
	MaxLen int64
	// Logger receives the sink's logs (default slog.Default()). The first
	// sink given one also receives go-redis's own logs, at debug level.
	Logger *slog.Logger
}

// Sink is a bridge.Sink and bridge.HealthChecker writing to Redis.
type Sink struct {
	o   Options
	cl  goredis.UniversalClient
	log *slog.Logger
}

// New checks o and returns a sink; it does not connect (an unreachable
// server shows in the bridge status, not as an error here).
func New(o Options) (*Sink, error) {
	uo, err := o.universal()
	if err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	} else {
		routeLogs(o.Logger)
	}
	var cl goredis.UniversalClient
	switch o.Deployment {
	case Sentinel:
		cl = goredis.NewFailoverClient(uo.Failover())
	case Cluster:
		cl = goredis.NewClusterClient(uo.Cluster())
	default:
		cl = goredis.NewClient(uo.Simple())
	}
	return &Sink{o: o, cl: cl, log: o.Logger}, nil
}

// universal checks o and maps it to go-redis options.
func (o *Options) universal() (*goredis.UniversalOptions, error) {
	if o.Deployment == "" {
		o.Deployment = Standalone
	}
	switch {
	case len(o.Addresses) == 0:
		return nil, errors.New("redis: no address")
	case o.Deployment == Sentinel && o.MasterName == "":
		return nil, errors.New("redis: sentinel needs the master name")
	case o.Deployment != Standalone && o.Deployment != Sentinel && o.Deployment != Cluster:
		return nil, fmt.Errorf("redis: unknown deployment %q", o.Deployment)
	case o.Deployment == Cluster && o.DB != 0:
		return nil, errors.New("redis: a cluster has only database 0")
	}
	if err := CheckCommand(o.Command); err != nil {
		return nil, err
	}
	if o.PoolSize <= 0 {
		o.PoolSize = 10
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 5 * time.Second
	}
	return &goredis.UniversalOptions{Addrs: o.Addresses, MasterName: o.MasterName, DB: o.DB,
		Username: o.Username, Password: o.Password, SentinelUsername: o.SentinelUsername,
		SentinelPassword: o.SentinelPassword, TLSConfig: o.TLS, PoolSize: o.PoolSize,
		DialTimeout: o.DialTimeout, ContextTimeoutEnabled: true, ClientName: "iothub",
		// The bridge.Runner retries a failed batch with backoff.
		MaxRetries: -1}, nil
}

// CheckCommand returns an error for an unknown command.
func CheckCommand(c string) error {
	switch c {
	case Publish, XAdd, HSet, Set:
		return nil
	}
	return fmt.Errorf("redis: unknown command %q (publish, xadd, hset or set)", c)
}

// CheckRecord returns an error for a record that command cannot write
// (fieldsFromHeaders as in Options): an empty destination, or for hset
// and xadd no fields. The bridge refuses such records when they are
// enqueued.
func CheckRecord(command string, fieldsFromHeaders bool, r *bridge.Record) error {
	if r.Topic == "" {
		return errors.New("redis: empty channel, stream or key")
	}
	if command != HSet && command != XAdd {
		return nil
	}
	if fieldsFromHeaders {
		if len(r.Headers) == 0 {
			return errors.New("redis: no fields")
		}
		return nil
	}
	_, err := Fields(r.Value)
	return err
}

// fields returns the hset or xadd fields of r.
func (s *Sink) fields(r *bridge.Record) ([]string, error) {
	if !s.o.FieldsFromHeaders {
		return Fields(r.Value)
	}
	if len(r.Headers) == 0 {
		return nil, errors.New("redis: no fields")
	}
	out := make([]string, 0, 2*len(r.Headers))
	for _, h := range r.Headers {
		out = append(out, h.Key, string(h.Value))
	}
	return out, nil
}

// Send writes recs as one pipeline, in order, and reports each record's
// fate (*bridge.BatchError): a record is delivered when all its commands
// succeeded.
func (s *Sink) Send(ctx context.Context, recs []bridge.Record) error {
	ncmds := make([]int, len(recs)) // commands queued per record
	skip := make([]error, len(recs))
	cmds, err := s.cl.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i := range recs {
			before := p.Len()
			if err := s.queue(ctx, p, &recs[i]); err != nil {
				skip[i] = bridge.Permanent(fmt.Errorf("redis: %w", err)) // a record the mapping did not check
			}
			ncmds[i] = p.Len() - before
		}
		return nil
	})
	if err == nil && !slices.ContainsFunc(skip, func(e error) bool { return e != nil }) {
		return nil
	}
	errs := make([]error, len(recs))
	k := 0
	for i := range recs {
		errs[i] = skip[i]
		for _, c := range cmds[k:min(k+ncmds[i], len(cmds))] {
			if cerr := c.Err(); cerr != nil && errs[i] == nil {
				errs[i] = classify(c, cerr)
			}
		}
		k += ncmds[i]
		if errs[i] == nil && err != nil && k > len(cmds) { // not sent at all
			errs[i] = fmt.Errorf("redis: %w", err)
		}
	}
	return &bridge.BatchError{Errs: errs}
}

// queue adds r's command(s) to p.
func (s *Sink) queue(ctx context.Context, p goredis.Pipeliner, r *bridge.Record) error {
	if r.Topic == "" {
		return errors.New("empty channel, stream or key")
	}
	switch s.o.Command {
	case Publish:
		p.Publish(ctx, r.Topic, r.Value)
	case Set:
		p.Set(ctx, r.Topic, r.Value, s.o.TTL)
	case HSet:
		f, err := s.fields(r)
		if err != nil {
			return err
		}
		p.HSet(ctx, r.Topic, f)
		if s.o.TTL > 0 {
			p.PExpire(ctx, r.Topic, s.o.TTL)
		}
	case XAdd:
		f, err := s.fields(r)
		if err != nil {
			return err
		}
		p.XAdd(ctx, &goredis.XAddArgs{Stream: r.Topic, MaxLen: s.o.MaxLen, Approx: s.o.MaxLen > 0, Values: f})
	}
	return nil
}

// classify turns the error of one command into a retryable error (a
// network error, a timeout, a server that is loading, read-only, out of
// memory…) or a permanent one: a WRONGTYPE reply (the key holds another
// type), NOPERM (the ACL user may not), or a plain ERR reply (a command
// the server refuses as given).
func classify(c goredis.Cmder, err error) error {
	name := c.Name()
	if args := c.Args(); len(args) > 1 {
		name = fmt.Sprintf("%s %v", name, args[1])
	}
	err = fmt.Errorf("redis: %s: %w", name, err)
	var rerr goredis.Error
	if errors.As(err, &rerr) {
		msg := rerr.Error()
		for _, p := range []string{"WRONGTYPE", "NOPERM", "ERR "} {
			if strings.HasPrefix(msg, p) && !strings.Contains(msg, "max number of clients") {
				return bridge.Permanent(err)
			}
		}
	}
	return err
}

// Health pings the server.
func (s *Sink) Health(ctx context.Context) error {
	if err := s.cl.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

// Close closes the connections.
func (s *Sink) Close() error { return s.cl.Close() }

var (
	_ bridge.Sink          = (*Sink)(nil)
	_ bridge.HealthChecker = (*Sink)(nil)
)
