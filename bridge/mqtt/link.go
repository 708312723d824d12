package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"

	"github.com/iothub-dev/iothub/bridge"
	"github.com/iothub-dev/iothub/mqtt/topic"
	"github.com/iothub-dev/iothub/msg"
)

// MarkerKey is the user property naming the hubs a message went through.
const MarkerKey = "iothub-bridge"

// SourceFields are the names a subscription's local topic template may
// use: the remote topic and its suffix from the filter's first wildcard.
var SourceFields = []string{"topic", "suffix"}

// Subscription is one remote filter published locally.
type Subscription struct {
	// Filter is the remote topic filter.
	Filter string
	// QoS is the subscription's maximum QoS.
	QoS byte
	// LocalTopic is the local topic template (SourceFields).
	LocalTopic string
}

// Options configure a Link.
type Options struct {
	// Name is the bridge's name (local messages get Origin "bridge:<name>").
	Name string
	// Address is the remote's host:port.
	Address string
	// TLS, when set, encrypts the connection.
	TLS *tls.Config
	// ClientID, Username and Password identify the bridge on the remote.
	ClientID, Username, Password string
	// KeepAlive, SessionExpiry, ConnectTimeout: see Settings.
	KeepAlive, SessionExpiry, ConnectTimeout time.Duration
	// ReconnectMax bounds the backoff between connection attempts.
	ReconnectMax time.Duration
	// QoS of forwarded messages (0 or 1).
	QoS byte
	// Subscriptions are the remote filters published locally.
	Subscriptions []Subscription
	// Logger receives the link's logs (default slog.Default()).
	Logger *slog.Logger
}

type sub struct {
	Subscription
	local  *bridge.Template
	prefix int // levels before the filter's first wildcard
}

// Link is the connection to the remote broker: a bridge.Sink, and with
// Source a bridge.Source on the same connection.
type Link struct {
	o    Options
	subs []sub
	log  *slog.Logger

	mu      sync.Mutex
	cm      *autopaho.ConnectionManager
	cancel  context.CancelFunc
	ctx     context.Context
	lastErr atomic.Pointer[string]
	up      atomic.Bool

	publish atomic.Pointer[func(*msg.Message) error]
	report  atomic.Pointer[func(error)] // bridge.StatusReporter
	ready   chan struct{}
	once    sync.Once
}

// ReportStatus implements bridge.StatusReporter: the connection going up
// or down, and a failed connection attempt, are reported at once.
func (l *Link) ReportStatus(report func(error)) { l.report.Store(&report) }

func (l *Link) reportErr(err error) {
	if f := l.report.Load(); f != nil {
		(*f)(err)
	}
}

// New checks o and parses its templates; Start connects.
func New(o Options) (*Link, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Address == "" {
		return nil, errors.New("mqtt bridge: address is required")
	}
	if o.QoS > 1 {
		return nil, fmt.Errorf("mqtt bridge: qos %d: forwarding supports 0 or 1", o.QoS)
	}
	l := &Link{o: o, log: o.Logger, ready: make(chan struct{})}
	for i, s := range o.Subscriptions {
		if err := topic.ValidateFilter(s.Filter); err != nil {
			return nil, fmt.Errorf("mqtt bridge: subscribe.%d.filter %q: %w", i, s.Filter, err)
		}
		t, err := bridge.ParseTemplate(s.LocalTopic, SourceFields, nil)
		if err != nil {
			return nil, fmt.Errorf("mqtt bridge: subscribe.%d.local_topic: %w", i, err)
		}
		l.subs = append(l.subs, sub{Subscription: s, local: t, prefix: topic.FixedLevels(s.Filter)})
	}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	return l, nil
}

// Start connects (in the background, retrying with backoff until Close).
func (l *Link) Start() error {
	u, err := url.Parse("mqtt://" + l.o.Address)
	if l.o.TLS != nil {
		u, err = url.Parse("tls://" + l.o.Address)
	}
	if err != nil {
		return fmt.Errorf("mqtt bridge: address: %w", err)
	}
	cfg := autopaho.ClientConfig{
		ServerUrls: []*url.URL{u}, TlsCfg: l.o.TLS, KeepAlive: uint16(min(l.o.KeepAlive/time.Second, 65535)), //nolint:gosec // bounded
		CleanStartOnInitialConnection: false, SessionExpiryInterval: uint32(min(l.o.SessionExpiry/time.Second, 1<<32-1)), //nolint:gosec // bounded
		ReconnectBackoff: l.backoff, ConnectTimeout: l.o.ConnectTimeout,
		ConnectUsername: l.o.Username, ConnectPassword: []byte(l.o.Password),
		OnConnectionUp: l.onUp, OnConnectionDown: l.onDown, OnConnectError: l.onConnectError,
		ClientConfig: paho.ClientConfig{ClientID: l.o.ClientID, EnableManualAcknowledgment: true,
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){l.onPublish},
			OnClientError:     func(err error) { l.setErr(err) },
			OnServerDisconnect: func(d *paho.Disconnect) {
				l.setErr(fmt.Errorf("remote disconnected: reason %d", d.ReasonCode))
			}},
	}
	cm, err := autopaho.NewConnection(l.ctx, cfg)
	if err != nil {
		return fmt.Errorf("mqtt bridge: %w", err)
	}
	l.mu.Lock()
	l.cm = cm
	l.mu.Unlock()
	return nil
}

// backoff is the wait before reconnection attempt n: 100ms doubling up to
// ReconnectMax.
func (l *Link) backoff(n int) time.Duration {
	d := 100 * time.Millisecond
	for i := 0; i < n && d < l.o.ReconnectMax; i++ {
		d *= 2
	}
	return min(d, max(l.o.ReconnectMax, 100*time.Millisecond))
}

func (l *Link) setErr(err error) {
	s := err.Error()
	l.lastErr.Store(&s)
}

func (l *Link) onConnectError(err error) {
	l.setErr(err)
	l.reportErr(fmt.Errorf("mqtt bridge: connect %s: %w", l.o.Address, err))
	l.log.Debug("mqtt bridge: connect failed", "error", err)
}

func (l *Link) onDown() bool {
	l.up.Store(false)
	msg := "connection lost"
	if e := l.lastErr.Load(); e != nil {
		msg += ": " + *e
	}
	l.reportErr(fmt.Errorf("mqtt bridge: %s: %s", l.o.Address, msg))
	l.log.Warn("mqtt bridge: connection lost", "remote", l.o.Address)
	return true
}

// onUp subscribes the remote filters (No Local: the bridge never receives
// what it forwarded itself). It must not block.
func (l *Link) onUp(cm *autopaho.ConnectionManager, _ *paho.Connack) {
	l.up.Store(true)
	l.reportErr(nil)
	l.log.Info("mqtt bridge: connected", "remote", l.o.Address)
	if len(l.subs) == 0 {
		return
	}
	s := &paho.Subscribe{}
	for _, sb := range l.subs {
		s.Subscriptions = append(s.Subscriptions, paho.SubscribeOptions{Topic: sb.Filter, QoS: sb.QoS, NoLocal: true})
	}
	go func() {
		ctx, cancel := context.WithTimeout(l.ctx, l.o.ConnectTimeout+10*time.Second)
		defer cancel()
		sa, err := cm.Subscribe(ctx, s)
		if err == nil {
			for i, rc := range sa.Reasons {
				if rc >= 0x80 && i < len(s.Subscriptions) {
					err = errors.Join(err, fmt.Errorf("subscribe %q refused: reason %d", s.Subscriptions[i].Topic, rc))
				}
			}
		}
		if err != nil {
			l.setErr(err)
			l.log.Warn("mqtt bridge: subscribe", "error", err)
		}
	}()
}

// Send publishes recs in order and returns when each was acknowledged,
// with each record's fate (*bridge.BatchError): a publish the remote
// refuses (a PUBACK reason code of 0x80 or more: not authorized, a bad
// topic, …) is permanent, except "packet identifier in use" and "quota
// exceeded"; a lost connection fails that record and the rest of the
// batch (retryable).
func (l *Link) Send(ctx context.Context, recs []bridge.Record) error {
	l.mu.Lock()
	cm := l.cm
	l.mu.Unlock()
	if cm == nil {
		return errors.New("mqtt bridge: not started")
	}
	var errs []error
	fail := func(i int, err error) {
		if errs == nil {
			errs = make([]error, len(recs))
		}
		errs[i] = err
	}
	for i := range recs {
		if err := cm.AwaitConnection(ctx); err != nil {
			for j := i; j < len(recs); j++ {
				fail(j, fmt.Errorf("mqtt bridge: not connected: %w", err))
			}
			break
		}
		if err := l.publishOne(ctx, cm, &recs[i]); err != nil {
			fail(i, err)
			if !bridge.IsPermanent(err) {
				for j := i + 1; j < len(recs); j++ {
					fail(j, err)
				}
				break
			}
		}
	}
	if errs == nil {
		return nil
	}
	return &bridge.BatchError{Errs: errs}
}

// publishOne publishes r and classifies the outcome.
func (l *Link) publishOne(ctx context.Context, cm *autopaho.ConnectionManager, r *bridge.Record) error {
	p := &paho.Publish{Topic: r.Topic, QoS: l.o.QoS, Payload: r.Value, Properties: &paho.PublishProperties{}}
	for _, h := range r.Headers {
		p.Properties.User.Add(h.Key, string(h.Value))
	}
	resp, err := cm.Publish(ctx, p)
	// paho returns an error with the response when the reason code is an
	// error: look at the code first.
	if resp != nil && resp.ReasonCode >= 0x80 {
		err := fmt.Errorf("mqtt bridge: publish %s refused: reason 0x%02x", r.Topic, resp.ReasonCode)
		if resp.ReasonCode == 0x91 || resp.ReasonCode == 0x97 { // packet identifier in use, quota exceeded
			return err
		}
		return bridge.Permanent(err)
	}
	if err != nil {
		return fmt.Errorf("mqtt bridge: publish %s: %w", r.Topic, err)
	}
	return nil
}

// Health reports whether the link is up, waiting up to ConnectTimeout
// for a connection in progress.
func (l *Link) Health(ctx context.Context) error {
	l.mu.Lock()
	cm := l.cm
	l.mu.Unlock()
	if cm != nil && !l.up.Load() {
		ctx, cancel := context.WithTimeout(ctx, max(l.o.ConnectTimeout, time.Second))
		_ = cm.AwaitConnection(ctx)
		cancel()
	}
	if l.up.Load() {
		return nil
	}
	if e := l.lastErr.Load(); e != nil {
		return fmt.Errorf("mqtt bridge: not connected: %s", *e)
	}
	return errors.New("mqtt bridge: not connected")
}

// Close disconnects and stops reconnecting.
func (l *Link) Close() error {
	l.mu.Lock()
	cm := l.cm
	l.mu.Unlock()
	if cm != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = cm.Disconnect(ctx)
		cancel()
	}
	l.cancel()
	if cm != nil {
		<-cm.Done()
	}
	return nil
}

var (
	_ bridge.Sink           = (*Link)(nil)
	_ bridge.HealthChecker  = (*Link)(nil)
	_ bridge.StatusReporter = (*Link)(nil)
)
