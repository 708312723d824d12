package upstream

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"github.com/eclipse/paho.golang/paho/session"
	"github.com/eclipse/paho.golang/paho/session/state"

	"github.com/iothub-dev/iothub/logging"
)

// Link states.
const (
	StateConnecting   = "connecting"
	StateConnected    = "connected"
	StateDisconnected = "disconnected"
	StateStopped      = "stopped"
)

// ErrLinkDown is returned by Publish when the link is not connected.
var ErrLinkDown = errors.New("upstream: link down")

// LinkOptions configure the MQTT 5 connection to the centre.
type LinkOptions struct {
	// URL is mqtt://, mqtts://, ws:// or wss://.
	URL *url.URL
	// TLS is used for mqtts and wss.
	TLS *tls.Config
	// ClientID and Username identify the link.
	ClientID, Username string
	// Password returns the password (or JWT) at each connection attempt.
	Password func() ([]byte, error)
	// KeepAlive, SessionExpiry, ConnectTimeout and ReconnectMax: see
	// config.Upstream.
	KeepAlive, SessionExpiry, ConnectTimeout, ReconnectMax time.Duration
	// Subscriptions are made at every connection (No Local is set).
	Subscriptions []paho.SubscribeOptions
	// OnPublish receives the centre's messages on paho's goroutine; it
	// must acknowledge QoS 1/2 ones with Ack once they are safe.
	OnPublish func(p *paho.Publish, ack func())
	// Logger receives the link's logs.
	Logger *slog.Logger
}

// ackKey carries, in a Publish's context, the channel that receives its
// acknowledgement (see ackSession).
type ackKey struct{}

// ackSession is paho's in-memory session state, except that a PUBLISH
// whose context carries a channel (ackKey) reports its acknowledgement
// there: so a publisher can write messages back to back (paho's
// PublishMethod_AsyncSend keeps their order) and collect the PUBACKs
// afterwards, instead of waiting a round trip per message.
type ackSession struct {
	session.SessionManager
	takenOver func() // called when the centre says another connection took the session
}

// ConnectionLost is told of a DISCONNECT from the centre before the
// client closes (so a takeover is known when the connection ends).
func (s *ackSession) ConnectionLost(d *packets.Disconnect) error {
	if d != nil && d.ReasonCode == reasonSessionTakenOver && s.takenOver != nil {
		s.takenOver()
	}
	if err := s.SessionManager.ConnectionLost(d); err != nil {
		return fmt.Errorf("upstream session: %w", err)
	}
	return nil
}

func (s *ackSession) AddToSession(ctx context.Context, p session.Packet, resp chan<- packets.ControlPacket) error {
	if ch, ok := ctx.Value(ackKey{}).(chan packets.ControlPacket); ok {
		resp = ch
	}
	if err := s.SessionManager.AddToSession(ctx, p, resp); err != nil {
		return fmt.Errorf("upstream session: %w", err)
	}
	return nil
}

// Link is the edge's connection to the centre: it connects, reconnects
// with backoff, subscribes, and publishes. Safe for concurrent use.
type Link struct {
	o    LinkOptions
	log  *slog.Logger
	sess *ackSession

	mu      sync.Mutex
	cli     *paho.Client  // nil while down
	up      chan struct{} // closed while connected
	down    chan struct{} // closed when the current connection ends
	state   string
	since   time.Time
	lastErr string

	connects, drops, takeovers atomic.Uint64
	takeoverLog                logging.Limiter
	ctx                        context.Context
	cancel                     context.CancelFunc
	done                       chan struct{}
}

// NewLink returns a link; Start connects.
func NewLink(o LinkOptions) *Link {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Link{o: o, log: o.Logger, sess: &ackSession{SessionManager: state.NewInMemory()}, up: make(chan struct{}),
		down: make(chan struct{}), state: StateConnecting, since: time.Now(), ctx: ctx, cancel: cancel,
		done: make(chan struct{})}
	l.sess.takenOver = l.takenOver
	return l
}

// Start connects in the background, retrying until Close.
func (l *Link) Start() { go l.run() }

// run keeps one connection up.
func (l *Link) run() {
	defer close(l.done)
	for attempt := 0; l.ctx.Err() == nil; attempt++ {
		cli, err := l.connect()
		if err != nil {
			l.setDown(err)
			if !l.sleep(l.backoff(attempt)) {
				return
			}
			continue
		}
		attempt = 0
		taken := l.takeovers.Load()
		select {
		case <-cli.Done():
		case <-l.ctx.Done():
			_ = cli.Disconnect(&paho.Disconnect{ReasonCode: 0})
			select {
			case <-cli.Done():
			case <-time.After(2 * time.Second):
			}
		}
		wait := 100 * time.Millisecond
		if l.takeovers.Load() != taken { // another connection took the session: do not fight over it at full speed
			l.setDown(errors.New(l.takeoverError()))
			wait = max(l.o.ReconnectMax, time.Second)
		} else {
			l.setDown(errors.New("connection lost"))
		}
		l.drops.Add(1)
		_ = l.sess.ConnectionLost(nil)
		if !l.sleep(wait) {
			return
		}
	}
}

func (l *Link) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-l.ctx.Done():
		return false
	}
}

// backoff is 100ms doubling up to ReconnectMax.
func (l *Link) backoff(n int) time.Duration {
	d := 100 * time.Millisecond
	for i := 0; i < n && d < l.o.ReconnectMax; i++ {
		d *= 2
	}
	return min(d, max(l.o.ReconnectMax, 100*time.Millisecond))
}

// connect dials, sends CONNECT and subscribes.
func (l *Link) connect() (*paho.Client, error) {
	ctx, cancel := context.WithTimeout(l.ctx, l.o.ConnectTimeout)
	defer cancel()
	conn, err := l.dial(ctx)
	if err != nil {
		return nil, err
	}
	cli := paho.NewClient(paho.ClientConfig{ClientID: l.o.ClientID, Conn: conn, Session: l.sess,
		EnableManualAcknowledgment: true,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			l.receive(pr)
			return true, nil
		}},
		OnClientError: func(err error) { l.setErr(err) },
		OnServerDisconnect: func(d *paho.Disconnect) {
			if d.ReasonCode != reasonSessionTakenOver { // that one is the session's (ackSession.ConnectionLost)
				l.setErr(fmt.Errorf("centre disconnected the link: reason 0x%02x", d.ReasonCode))
			}
		}})
	cp := &paho.Connect{ClientID: l.o.ClientID, KeepAlive: uint16(min(l.o.KeepAlive/time.Second, 65535)), //nolint:gosec // bounded
		CleanStart: false, Properties: &paho.ConnectProperties{}}
	se := uint32(min(l.o.SessionExpiry/time.Second, 1<<32-1)) //nolint:gosec // bounded
	cp.Properties.SessionExpiryInterval = &se
	if l.o.Username != "" {
		cp.Username, cp.UsernameFlag = l.o.Username, true
	}
	if l.o.Password != nil {
		pw, err := l.o.Password()
		if err != nil {
			_ = conn.Close()
			return nil, err
		}
		if len(pw) > 0 {
			cp.Password, cp.PasswordFlag = pw, true
		}
	}
	ca, err := cli.Connect(ctx, cp)
	if err != nil {
		_ = conn.Close()
		if ca != nil {
			return nil, fmt.Errorf("centre refused the link: reason 0x%02x %s", ca.ReasonCode, ca.Properties.ReasonString)
		}
		return nil, fmt.Errorf("connect: %w", err)
	}
	if err := l.subscribe(ctx, cli); err != nil {
		_ = cli.Disconnect(&paho.Disconnect{ReasonCode: 0})
		return nil, err
	}
	l.setUp(cli)
	return cli, nil
}

// subscribe makes the link's subscriptions (No Local: nothing the edge
// sends up comes back).
func (l *Link) subscribe(ctx context.Context, cli *paho.Client) error {
	if len(l.o.Subscriptions) == 0 {
		return nil
	}
	s := &paho.Subscribe{Subscriptions: l.o.Subscriptions}
	sa, err := cli.Subscribe(ctx, s)
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	for i, rc := range sa.Reasons {
		if rc >= 0x80 && i < len(s.Subscriptions) {
			l.log.Warn("upstream: centre refused a subscription", "filter", s.Subscriptions[i].Topic, "reason", rc)
		}
	}
	return nil
}

// dial opens the transport named by the URL's scheme, as a sync.Locker:
// paho writes a packet in several Writes (header, then body) and holds
// the lock across them only when the connection is one. Over TLS and
// WebSocket (no writev) two goroutines writing at once (an ack, a ping, a
// subscribe) would otherwise interleave their packets' parts.
func (l *Link) dial(ctx context.Context) (net.Conn, error) {
	c, err := l.dialTransport(ctx)
	if err != nil {
		return nil, err
	}
	return packets.NewThreadSafeConn(c), nil
}

// dialTransport opens the URL's connection.
func (l *Link) dialTransport(ctx context.Context) (net.Conn, error) {
	u := l.o.URL
	switch u.Scheme {
	case "ws", "wss":
		opts := &websocket.DialOptions{Subprotocols: []string{"mqtt"}}
		if u.Scheme == "wss" {
			opts.HTTPClient = &http.Client{Transport: &http.Transport{TLSClientConfig: l.o.TLS}}
		}
		c, resp, err := websocket.Dial(ctx, u.String(), opts)
		if resp != nil && resp.Body != nil {
			_ = resp.Body.Close()
		}
		if err != nil {
			return nil, fmt.Errorf("dial %s: %w", u.Redacted(), err)
		}
		c.SetReadLimit(-1)
		return websocket.NetConn(l.ctx, c, websocket.MessageBinary), nil
	case "mqtts", "ssl", "tls":
		d := tls.Dialer{Config: l.o.TLS}
		c, err := d.DialContext(ctx, "tcp", u.Host)
		if err != nil {
			return nil, fmt.Errorf("dial %s: %w", u.Host, err)
		}
		return c, nil
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", u.Host, err)
	}
	return c, nil
}

// receive hands a message of the centre to OnPublish with its ack.
func (l *Link) receive(pr paho.PublishReceived) {
	p := pr.Packet
	ack := func() {
		if p.QoS > 0 {
			if err := pr.Client.Ack(p); err != nil {
				l.log.Debug("upstream: ack", "error", err)
			}
		}
	}
	if l.o.OnPublish == nil {
		ack()
		return
	}
	l.o.OnPublish(p, ack)
}

func (l *Link) setUp(cli *paho.Client) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cli = cli
	l.state, l.since = StateConnected, time.Now()
	l.down = make(chan struct{})
	close(l.up)
	l.connects.Add(1)
	l.log.Info("upstream: link connected", "url", l.o.URL.Redacted())
}

func (l *Link) setDown(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.lastErr = err.Error()
	}
	if l.cli != nil {
		l.cli = nil
		l.up = make(chan struct{})
		close(l.down)
		l.log.Warn("upstream: link down", "url", l.o.URL.Redacted(), "error", err)
	}
	st := StateDisconnected
	if l.ctx.Err() != nil {
		st = StateStopped
	}
	if l.state != st {
		l.state, l.since = st, time.Now()
	}
}

// reasonSessionTakenOver is the DISCONNECT reason a broker gives the
// connection whose session another connection with the same client id
// took over.
const reasonSessionTakenOver = 0x8E

// takenOver records that the centre gave the link's session to another
// connection. An edge's own reconnection never causes it on the live
// connection (the old one is gone by then), so it means another client
// uses this link's client id — most likely a second edge configured with
// the same upstream.name, which would take the link's session (its
// subscriptions, the commands queued for it) and make the two links take
// it from each other in turn. It is logged as an error (rate-limited) and
// shown in the status; the link reconnects after reconnect_max instead of
// at once.
func (l *Link) takenOver() {
	l.takeovers.Add(1)
	msg := l.takeoverError()
	l.setErr(errors.New(msg))
	l.takeoverLog.Log(l.log, slog.LevelError, "upstream: "+msg, "client_id", l.o.ClientID, "url", l.o.URL.Redacted(),
		"takeovers", l.takeovers.Load())
}

func (l *Link) takeoverError() string {
	return fmt.Sprintf("the centre gave this link's session (client id %q) to another connection: "+
		"is another edge configured with the same upstream.name or client_id? Each edge needs its own", l.o.ClientID)
}

func (l *Link) setErr(err error) {
	l.mu.Lock()
	l.lastErr = err.Error()
	l.mu.Unlock()
}

// client waits (bounded by ctx) for a connection and returns it with the
// channel closed when it ends.
func (l *Link) client(ctx context.Context) (*paho.Client, <-chan struct{}, error) {
	for {
		l.mu.Lock()
		cli, up, down := l.cli, l.up, l.down
		l.mu.Unlock()
		if cli != nil {
			return cli, down, nil
		}
		select {
		case <-up:
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("%w: %w", ErrLinkDown, ctx.Err())
		case <-l.ctx.Done():
			return nil, nil, fmt.Errorf("%w: stopped", ErrLinkDown)
		}
	}
}

// pending is a QoS 1 publish written and not yet acknowledged.
type pending struct {
	ack  chan packets.ControlPacket
	down <-chan struct{}
}

// publishAsync writes p (QoS 1) and returns at once; wait collects its
// acknowledgement. Calls from one goroutine keep their order on the wire.
func (l *Link) publishAsync(ctx context.Context, p *paho.Publish) (pending, error) {
	cli, down, err := l.client(ctx)
	if err != nil {
		return pending{}, err
	}
	ch := make(chan packets.ControlPacket, 1)
	_, err = cli.PublishWithOptions(context.WithValue(ctx, ackKey{}, ch), p, paho.PublishOptions{Method: paho.PublishMethod_AsyncSend})
	if err != nil && !errors.Is(err, paho.ErrNetworkErrorAfterStored) {
		return pending{}, fmt.Errorf("%w: publish %s: %w", ErrLinkDown, p.Topic, err)
	}
	return pending{ack: ch, down: down}, nil
}

// RefusedError is a PUBACK with an error reason code.
type RefusedError struct{ Code byte }

func (e *RefusedError) Error() string {
	return fmt.Sprintf("centre refused the message: reason 0x%02x", e.Code)
}

// wait returns when the centre acknowledged (nil, or a *RefusedError),
// the connection ended, or ctx is done.
func (pd pending) wait(ctx context.Context) error {
	select {
	case cp := <-pd.ack:
		if cp.Content == nil {
			return fmt.Errorf("%w: message dropped from the session", ErrLinkDown)
		}
		if pa, ok := cp.Content.(*packets.Puback); ok && pa.ReasonCode >= 0x80 && pa.ReasonCode != 0x10 {
			return &RefusedError{Code: pa.ReasonCode}
		}
		return nil
	case <-pd.down:
		return fmt.Errorf("%w: connection lost before the acknowledgement", ErrLinkDown)
	case <-ctx.Done():
		return fmt.Errorf("%w: no acknowledgement: %w", ErrLinkDown, ctx.Err())
	}
}

// publish writes p and waits for its acknowledgement (QoS 1), or returns
// once written (QoS 0).
func (l *Link) publish(ctx context.Context, p *paho.Publish) error {
	if p.QoS == 0 {
		cli, _, err := l.client(ctx)
		if err != nil {
			return err
		}
		if _, err := cli.Publish(ctx, p); err != nil {
			return fmt.Errorf("%w: %w", ErrLinkDown, err)
		}
		return nil
	}
	pd, err := l.publishAsync(ctx, p)
	if err != nil {
		return err
	}
	return pd.wait(ctx)
}

// LinkStatus is the link's state for the API.
type LinkStatus struct {
	State     string    `json:"state"`
	Since     time.Time `json:"since"`
	LastError string    `json:"last_error,omitempty"`
	Connects  uint64    `json:"connects"`
	Drops     uint64    `json:"drops"`
	// Takeovers counts the times the centre closed the link because
	// another connection took its session over (DISCONNECT 0x8E): another
	// edge with the same name or client id.
	Takeovers uint64 `json:"takeovers"`
}

// Status returns the link's state.
func (l *Link) Status() LinkStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	return LinkStatus{State: l.state, Since: l.since, LastError: l.lastErr, Connects: l.connects.Load(), Drops: l.drops.Load(),
		Takeovers: l.takeovers.Load()}
}

// Connected reports whether the link is up.
func (l *Link) Connected() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cli != nil
}

// Close disconnects and stops reconnecting.
func (l *Link) Close() {
	l.cancel()
	<-l.done
	l.setDown(nil)
}
