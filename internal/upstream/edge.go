package upstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"golang.org/x/time/rate"

	"github.com/iothub-dev/iothub/bridge"
	"github.com/iothub-dev/iothub/bridge/diskqueue"
	"github.com/iothub-dev/iothub/config"
	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/mqtt/topic"
	"github.com/iothub-dev/iothub/msg"
)

// Broker is what the edge needs of the local hub; *broker.Server
// implements it.
type Broker interface {
	// Publish publishes a message of the centre locally.
	Publish(ctx context.Context, m *msg.Message) (int, error)
	// SendToClient relays a command of the centre to one device.
	SendToClient(ctx context.Context, clientID string, m *msg.Message) (broker.Outcome, <-chan broker.DeliveryResult, error)
}

// EdgeOptions configure an Edge.
type EdgeOptions struct {
	// Config is the upstream section.
	Config config.Upstream
	// Node is this hub's node name (the default origin name).
	Node string
	// DataDir holds the queues, in DataDir/upstream/<stream>/.
	DataDir string
	// Broker is the local hub.
	Broker Broker
	// Logger receives the edge's logs.
	Logger *slog.Logger
	// RequestSync is called after records were queued: the broker's
	// committer then calls Sync before the acknowledgements that depend
	// on them (see broker.Syncer).
	RequestSync func()
}

// Edge is this hub's upstream: the link, the streams and their queues,
// the forward filters, and the command relay. Lifecycle: NewEdge (checks
// and builds, connects nothing), Start, Close.
type Edge struct {
	o       EdgeOptions
	cfg     config.Upstream
	origin  string
	log     *slog.Logger
	link    *Link
	lim     *limits
	streams map[string]*stream
	order   []*stream // by priority, highest first
	fwd     []forwardFilter
	down    []downSub
	cmds    *edgeCommands
}

type forwardFilter struct {
	filter string
	st     *stream
}

// NewEdge checks cfg and builds the edge: it opens the queues (whose
// records an earlier run left are sent first) but connects nothing.
func NewEdge(o EdgeOptions) (*Edge, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	c := o.Config
	e := &Edge{o: o, cfg: c, origin: c.Name, log: o.Logger.With("component", "upstream"), streams: map[string]*stream{}}
	if e.origin == "" {
		e.origin = o.Node
	}
	lo, err := linkOptions(c, e.origin, e.log)
	if err != nil {
		return nil, err
	}
	e.cmds = &edgeCommands{e: e, sem: make(chan struct{}, maxCommands)}
	lo.OnPublish = e.receive
	if c.Commands {
		lo.Subscriptions = append(lo.Subscriptions, paho.SubscribeOptions{Topic: CommandTopic, QoS: 1, NoLocal: true})
	}
	for i, s := range c.Subscribe {
		d, err := newDownSub(s)
		if err != nil {
			return nil, fmt.Errorf("upstream.subscribe.%d: %w", i, err)
		}
		e.down = append(e.down, d)
		lo.Subscriptions = append(lo.Subscriptions, paho.SubscribeOptions{Topic: s.Filter, QoS: byte(s.QoS), NoLocal: true})
	}
	e.link = NewLink(lo)
	e.lim = &limits{}
	if c.RateLimit > 0 {
		e.lim.msgs = rate.NewLimiter(rate.Limit(c.RateLimit), max(1, c.RateLimit/10))
	}
	if c.BandwidthLimit > 0 {
		e.lim.bytes = rate.NewLimiter(rate.Limit(c.BandwidthLimit), c.BandwidthLimit)
	}
	defs := append([]config.UpstreamStream{{Name: config.DefaultStreamName, Forward: c.Forward, Queue: c.Queue}}, c.Streams...)
	for _, d := range defs {
		if err := e.addStream(d); err != nil {
			_ = e.closeStreams(context.Background()) // the error that matters is err
			return nil, err
		}
	}
	return e, nil
}

// linkOptions maps the config to the link's options, loading TLS files.
func linkOptions(c config.Upstream, origin string, log *slog.Logger) (LinkOptions, error) {
	u, err := url.Parse(c.URL)
	if err != nil {
		return LinkOptions{}, fmt.Errorf("upstream.url: %w", err)
	}
	o := LinkOptions{URL: u, ClientID: c.ClientID, Username: c.Username, KeepAlive: c.KeepAlive.D(),
		SessionExpiry: c.SessionExpiry.D(), ConnectTimeout: c.ConnectTimeout.D(), ReconnectMax: c.ReconnectMax.D(), Logger: log}
	if o.ClientID == "" {
		o.ClientID = "iothub-edge-" + origin
	}
	switch {
	case c.JWTFile != "":
		path := c.JWTFile
		o.Password = func() ([]byte, error) {
			b, err := os.ReadFile(path) //nolint:gosec // the operator's configured token file
			if err != nil {
				return nil, fmt.Errorf("upstream.jwt_file: %w", err)
			}
			return []byte(strings.TrimSpace(string(b))), nil
		}
	case c.Password != "":
		pw := []byte(c.Password)
		o.Password = func() ([]byte, error) { return pw, nil }
	}
	if u.Scheme == "mqtts" || u.Scheme == "wss" || u.Scheme == "ssl" || u.Scheme == "tls" {
		if o.TLS, err = c.TLS.Load("upstream.tls"); err != nil {
			return o, err
		}
	}
	return o, nil
}

// QueueDir is where a stream keeps its queue.
func QueueDir(dataDir, name string) string { return filepath.Join(dataDir, "upstream", name) }

// addStream opens a stream's queue and its runner (not started).
func (e *Edge) addStream(d config.UpstreamStream) error {
	st := &stream{name: d.Name, priority: d.Priority, origin: e.origin, epoch: newEpoch(), ttl: d.Queue.TTL.D()}
	st.sink = &sink{st: st, link: e.link, lim: e.lim}
	batch := 500
	if e.cfg.RateLimit > 0 {
		batch = min(batch, max(1, e.cfg.RateLimit))
	}
	r, err := bridge.NewRunner(st.sink, bridge.Options{
		Name: "upstream-" + d.Name, Dir: QueueDir(e.o.DataDir, d.Name), Logger: e.log,
		BatchSize: batch, SendTimeout: time.Minute, RetryMax: 5 * time.Second, HealthInterval: 5 * time.Second,
		RequestSync: e.o.RequestSync,
		Disk: diskqueue.Options{MaxBytes: int64(d.Queue.MaxBytes), FullPolicy: diskqueue.FullPolicy(d.Queue.FullPolicy),
			Fsync: diskqueue.FsyncPolicy(d.Queue.Fsync)},
	})
	if err != nil {
		return fmt.Errorf("upstream stream %s: %w", d.Name, err)
	}
	st.runner = r
	e.streams[d.Name] = st
	e.order = append(e.order, st)
	sort.SliceStable(e.order, func(i, j int) bool { return e.order[i].priority > e.order[j].priority })
	e.lim.streams = e.order
	for _, f := range d.Forward {
		e.fwd = append(e.fwd, forwardFilter{filter: f, st: st})
	}
	return nil
}

// Start connects the link and starts sending.
func (e *Edge) Start() {
	e.link.Start()
	for _, st := range e.order {
		st.runner.Start()
	}
	e.log.Info("upstream: edge started", "url", e.link.o.URL.Redacted(), "origin", e.origin, "streams", len(e.order))
}

// Close stops sending (what is queued stays on disk for the next start)
// and disconnects.
func (e *Edge) Close(ctx context.Context) error {
	err := e.closeStreams(ctx)
	e.link.Close()
	return err
}

func (e *Edge) closeStreams(ctx context.Context) error {
	var err error
	for _, st := range e.order {
		err = errors.Join(err, st.runner.Close(ctx))
	}
	return err
}

// Origin returns the edge's origin name.
func (e *Edge) Origin() string { return e.origin }

// stream returns the named stream ("" is the default).
func (e *Edge) stream(name string) (*stream, error) {
	if name == "" {
		name = config.DefaultStreamName
	}
	st := e.streams[name]
	if st == nil {
		return nil, fmt.Errorf("upstream: no stream %q", name)
	}
	return st, nil
}

// Sync writes what the streams queued (fsync when durable): the edge is
// a broker.Syncer, so a device's PUBACK goes out only once the message is
// in the stream's durable queue.
func (e *Edge) Sync(durable bool) error {
	var err error
	for _, st := range e.order {
		err = errors.Join(err, st.runner.Sync(durable))
	}
	return err
}

// downSub is a central subscription whose messages are published here.
type downSub struct {
	filter string
	qos    byte
	local  *bridge.Template
	prefix int
}

func newDownSub(s config.MQTTSubscription) (downSub, error) {
	t, err := bridge.ParseTemplate(s.LocalTopic, []string{"topic", "suffix"}, nil)
	if err != nil {
		return downSub{}, fmt.Errorf("local_topic: %w", err)
	}
	return downSub{filter: s.Filter, qos: byte(s.QoS), local: t, prefix: topic.FixedLevels(s.Filter)}, nil
}

// receive handles a message of the centre: a command request, or a
// message of a down subscription, published here with origin upstream
// (so it is never forwarded up again) and acknowledged once the local
// hub took it.
func (e *Edge) receive(p *paho.Publish, ack func()) {
	if p.Topic == CommandTopic {
		ack() // a request lost with the edge is answered by the centre's timeout
		e.cmds.handle(p)
		return
	}
	for i := range e.down {
		d := &e.down[i]
		if !topic.Match(d.filter, p.Topic) {
			continue
		}
		m := e.downMessage(d, p)
		e.publishLocal(m)
		break
	}
	ack()
}

func (e *Edge) downMessage(d *downSub, p *paho.Publish) *msg.Message {
	lookup := func(name string) []byte {
		if name == "suffix" {
			return []byte(topic.DropLevels(p.Topic, d.prefix))
		}
		return []byte(p.Topic)
	}
	m := &msg.Message{Topic: d.local.Render(lookup), QoS: min(p.QoS, d.qos), Retain: p.Retain, Payload: p.Payload,
		Origin: msg.Origin{Kind: msg.OriginUpstream, Name: e.link.o.URL.Host}, ReceivedAt: time.Now()}
	if pp := p.Properties; pp != nil {
		m.ContentType, m.ResponseTopic, m.CorrelationData = pp.ContentType, pp.ResponseTopic, pp.CorrelationData
		for _, u := range pp.User {
			m.UserProperties = append(m.UserProperties, msg.UserProperty{Key: u.Key, Value: u.Value})
		}
	}
	return m
}

// publishLocal publishes m here, retrying while the hub refuses it for
// a passing reason, until the edge stops.
func (e *Edge) publishLocal(m *msg.Message) {
	d := 50 * time.Millisecond
	for {
		_, err := e.o.Broker.Publish(e.link.ctx, m)
		if err == nil || e.link.ctx.Err() != nil {
			return
		}
		if topic.ValidateName(m.Topic) != nil {
			e.log.Warn("upstream: message of the centre has no valid local topic; dropped", "topic", m.Topic)
			return
		}
		e.log.Debug("upstream: local publish failed, retrying", "topic", m.Topic, "error", err)
		if !e.link.sleep(d) {
			return
		}
		d = min(2*d, 5*time.Second)
	}
}
