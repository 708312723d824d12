package cluster

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/iothub-dev/iothub/msg"
)

// Options configures a Node.
type Options struct {
	// Name is this node's name, unique in the cluster.
	Name string
	// Address is the host:port the node listens on for other nodes.
	Address string
	// Advertise is the host:port other nodes dial ("": Address).
	Advertise string
	// Seeds are cluster addresses of nodes to join through.
	Seeds []string
	// ClusterName must be the same on every node.
	ClusterName string
	// Secret, when set, must be the same on every node: route connections
	// without it are refused.
	Secret string
	// TLSCertFile, TLSKeyFile and TLSCAFile, when set, encrypt the routes;
	// each node's certificate must be signed by the CA.
	TLSCertFile, TLSKeyFile, TLSCAFile string
	// Replicas is the replication factor of the replicated state.
	Replicas int
	// Dir holds the node's replicated state.
	Dir string
	// ForwardTimeout is how long a QoS 1/2 forward waits for the nodes
	// with interest before it is sent again.
	ForwardTimeout time.Duration
	// NodeTimeout is how long a node may be silent before it is gone.
	NodeTimeout time.Duration
	// MaxPayload bounds one forwarded message (MQTT packet size plus room).
	MaxPayload int
	// QueueMaxAge bounds how long a message stays in the replicated
	// session queues (the longest session expiry; 0: no bound).
	QueueMaxAge time.Duration
	// Logger receives the node's and the embedded server's logs.
	Logger *slog.Logger

	// markerTTL overrides registryMarkerTTL (tests).
	markerTTL time.Duration
	// onTakenOver, when set, is called after this node gave a session up
	// to another node and before it answers it (tests: a message sent in
	// the takeover's window).
	onTakenOver func(clientID string)
}

// Broker is what a node needs of the local broker (broker.Server
// implements it). Both calls may store the message for persistent
// sessions; after is called once that is done.
type Broker interface {
	DeliverRemote(m *msg.Message, except []string, after func(error)) int
	DeliverShared(m *msg.Message, filter string, after func(error)) bool
	// TakeSession closes the local connection of clientID (0x8E) and
	// returns its session, removed here, encoded (nil: none).
	TakeSession(clientID string) []byte
	// SessionFilters returns the filters of clientID's session here
	// (nil: none).
	SessionFilters(clientID string) []string
	// DeliverTo gives m to clientID's session alone, through its
	// subscriptions that match m (a message passed on by the node that
	// gave the session up: relay.go); false when none matches.
	DeliverTo(clientID string, m *msg.Message, after func(error)) bool
	// HasSession reports whether clientID has a session here.
	HasSession(clientID string) (exists, connected bool)
	// SessionIDs returns the client ids of the sessions held here.
	SessionIDs() []string
	// ApplyRetained sets (m) or clears (nil) a retained message locally,
	// as replicated from the node it was published on.
	ApplyRetained(topic string, m *msg.Message)
	// AdoptSession takes over the session of a lost node from the record
	// it saved (Save) and its replicated queue (records and their
	// handles, oldest first), publishing the lost connection's will.
	AdoptSession(clientID string, record []byte, queue [][]byte, handles []uint64)
}

// ErrNotStored is the error a QoS 1/2 forward ends with when a node with
// interest did not store the message after every retry.
var ErrNotStored = errors.New("cluster: a node with interest did not store the message")

// maxForwardAttempts bounds how often a QoS 1/2 forward is sent to a node
// that stays alive and silent before the publisher's PUBACK is refused.
const maxForwardAttempts = 5

// recvBuffer is the capacity of each receive channel: messages beyond it
// are dropped by the NATS client (slow consumer, counted) and, for QoS 1/2,
// sent again by their sender.
const recvBuffer = 1 << 16

// Node is one hub in a cluster: the embedded NATS server, the in-process
// connections, and the goroutines that feed the Core.
type Node struct {
	opts Options
	log  *slog.Logger
	inc  uint64 // incarnation: this process's start time

	ns    *server.Server
	token string     // of the in-process client connections
	nc    *nats.Conn // no echo: forwards, plain-filter interest, control
	qc    *nats.Conn // shared-group (queue) interest; echo on
	jc    *nats.Conn // appends to the replicated session queues

	broker     atomic.Pointer[Broker]
	attached   chan struct{} // closed by the first Attach
	attachOnce sync.Once

	recv   chan *nats.Msg
	shared chan *nats.Msg

	seq atomic.Uint64 // forwarded messages

	rl relays // relay.go

	mu      sync.Mutex // guards everything below; taken last
	core    *Core
	iseq    uint64 // interest changes announced
	filters map[string]*localFilter
	queues  map[string]string // queue name → "$share/g/f"
	pending map[uint64]*pendingForward

	st     state  // the replicated state (registry.go)
	q      queues // the replicated session queues (queue.go)
	claims claims // CONNECT claims running here (adopt.go)

	stats stats
	quit  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once
}

// localFilter is one MQTT filter held by local sessions and its NATS
// subscriptions.
type localFilter struct {
	refs int
	subs []*nats.Subscription
}

// Start starts the embedded NATS server, joins the seeds and starts the
// node's goroutines. Attach the broker before serving clients.
func Start(opts Options) (*Node, error) {
	n := &Node{
		opts: opts, log: opts.Logger.With("component", "cluster"), inc: uint64(time.Now().UnixNano()),
		recv: make(chan *nats.Msg, recvBuffer), shared: make(chan *nats.Msg, recvBuffer),
		core: NewCore(opts.Name, opts.NodeTimeout), filters: make(map[string]*localFilter),
		queues: make(map[string]string), pending: make(map[uint64]*pendingForward), quit: make(chan struct{}),
		st: state{ready: make(chan struct{}), locks: make(map[string]*claimLock), retainQ: make(chan retainOp, 4096),
			dirty: make(map[string][]byte), dirtyWake: make(chan struct{}, 1)},
	}
	n.q.init()
	n.rl.moved, n.rl.incoming = make(map[string]*movedSession), make(map[string]*incomingSession)
	n.attached = make(chan struct{})
	if err := n.startServer(); err != nil {
		return nil, err
	}
	if err := n.connect(); err != nil {
		n.ns.Shutdown()
		return nil, err
	}
	if err := n.subscribeControl(); err != nil { // control.go
		n.Close()
		return nil, err
	}
	n.wg.Add(6)
	go n.recvLoop()   // forward.go
	go n.sharedLoop() // forward.go
	go n.tickLoop()
	go n.setupState() // registry.go
	go n.retainLoop() // retained.go
	go n.saveLoop()   // registry.go
	return n, nil
}

// Attach gives the node the broker it delivers forwarded messages to.
func (n *Node) Attach(b Broker) {
	n.broker.Store(&b)
	n.attachOnce.Do(func() { close(n.attached) })
}

func (n *Node) startServer() error {
	host, portStr, err := net.SplitHostPort(n.opts.Address)
	if err != nil {
		return fmt.Errorf("cluster address %q: %w", n.opts.Address, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("cluster address %q: %w", n.opts.Address, err)
	}
	if port == 0 {
		port = server.RANDOM_PORT // port 0 in NATS turns routing off
	}
	routes := make([]*url.URL, 0, len(n.opts.Seeds))
	for _, s := range n.opts.Seeds {
		u := &url.URL{Scheme: "nats-route", Host: s}
		if n.opts.Secret != "" {
			u.User = url.UserPassword(routeUser(n.opts.Secret), n.opts.Secret)
		}
		routes = append(routes, u)
	}
	// The nodes' clients are in-process. The client port cannot be turned
	// off (DontListen also keeps routing from starting), so it listens on
	// a random loopback port behind a random token nobody is told.
	token := make([]byte, 24)
	_, _ = rand.Read(token)
	n.token = hex.EncodeToString(token)
	so := &server.Options{
		ServerName:    n.opts.Name,
		Host:          "127.0.0.1",
		Port:          server.RANDOM_PORT,
		Authorization: n.token,
		NoSigs:        true,
		Cluster: server.ClusterOpts{
			Name: n.opts.ClusterName, Host: host, Port: port, Advertise: n.opts.Advertise,
			Username: routeUser(n.opts.Secret), Password: n.opts.Secret,
			ConnectRetries: -1, // keep dialling seeds that are not up yet
		},
		Routes:         routes,
		JetStream:      true,
		StoreDir:       filepath.Join(n.opts.Dir, "jetstream"),
		MaxPayload:     int32(max(n.opts.MaxPayload, 1<<20)),
		MaxControlLine: 1 << 17, // subjects carry topics of up to 64 KiB
		MaxPending:     256 << 20,
	}
	if n.opts.TLSCertFile != "" {
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: n.opts.TLSCertFile, KeyFile: n.opts.TLSKeyFile,
			CaFile: n.opts.TLSCAFile, Verify: true})
		if err != nil {
			return fmt.Errorf("cluster TLS: %w", err)
		}
		tc.RootCAs = tc.ClientCAs // a node dials as well as accepts: the same CA checks both ways
		so.Cluster.TLSConfig, so.Cluster.TLSTimeout = tc, 5
	}
	ns, err := server.NewServer(so)
	if err != nil {
		return fmt.Errorf("cluster: embedded NATS server: %w", err)
	}
	ns.SetLoggerV2(natsLogger{n.log.With("component", "nats")}, false, false, false)
	ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return fmt.Errorf("cluster: embedded NATS server did not start on %s", n.opts.Address)
	}
	n.ns = ns
	if a := ns.ClusterAddr(); a != nil {
		n.opts.Logger.Info("listening", "listener", "cluster", "protocol", "cluster", "address", a.String())
	}
	return nil
}

func (n *Node) connect() error {
	var err error
	common := []nats.Option{
		nats.InProcessServer(n.ns), nats.Name(n.opts.Name), nats.MaxReconnects(-1), nats.Token(n.token),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrSlowConsumer) {
				n.stats.slowConsumer.Add(1)
			}
			n.log.Warn("cluster connection error", "error", err)
		}),
	}
	if n.nc, err = nats.Connect("", append(common, nats.NoEcho())...); err != nil {
		return fmt.Errorf("cluster: in-process connection: %w", err)
	}
	if n.qc, err = nats.Connect("", common...); err != nil {
		n.nc.Close()
		return fmt.Errorf("cluster: in-process connection: %w", err)
	}
	if n.jc, err = nats.Connect("", common...); err != nil {
		n.nc.Close()
		n.qc.Close()
		return fmt.Errorf("cluster: in-process connection: %w", err)
	}
	return nil
}

// tickLoop beats, advances the Core's clock and retries late forwards.
func (n *Node) tickLoop() {
	defer n.wg.Done()
	every := max(n.opts.NodeTimeout/6, 50*time.Millisecond)
	hb := time.NewTicker(every)
	defer hb.Stop()
	rt := time.NewTicker(max(n.opts.ForwardTimeout/4, 25*time.Millisecond))
	defer rt.Stop()
	n.heartbeat()
	last := time.Now()
	for {
		select {
		case <-n.quit:
			return
		case <-hb.C:
			n.heartbeat()
			now := time.Now()
			n.mu.Lock()
			// A tick far later than due means this process did not run:
			// the peers were not silent for that long.
			if late := now.Sub(last) - every; late > n.opts.NodeTimeout/3 {
				n.core.Stalled(late)
				n.log.Warn("cluster node stalled; peers' silence during the stall not counted", "stall", late)
			}
			last = now
			acts := n.core.Tick(now)
			n.mu.Unlock()
			n.act(acts)
		case <-rt.C:
			n.retryForwards(time.Now()) // forward.go
		}
	}
}

// Close leaves the cluster: the others are told at once, the connections
// are drained and the embedded server stops.
func (n *Node) Close() {
	n.once.Do(func() {
		n.announceLeave()
		close(n.quit)
		if n.nc != nil {
			_ = n.nc.Flush()
			n.nc.Close()
		}
		if n.qc != nil {
			n.qc.Close()
		}
		if n.jc != nil {
			n.jc.Close()
		}
		n.wg.Wait()
		n.ns.Shutdown()
		n.ns.WaitForShutdown()
	})
}

// Name returns the node's name.
func (n *Node) Name() string { return n.opts.Name }

// natsLogger sends the embedded server's notices, warnings and errors to
// slog.
type natsLogger struct{ log *slog.Logger }

func (l natsLogger) Noticef(format string, v ...any) { l.log.Info(fmt.Sprintf(format, v...)) }
func (l natsLogger) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l natsLogger) Fatalf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l natsLogger) Errorf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l natsLogger) Debugf(format string, v ...any)  {}
func (l natsLogger) Tracef(format string, v ...any)  {}

// routeUser is the user name of route connections when the cluster has a
// secret (the secret is the password).
func routeUser(secret string) string {
	if secret == "" {
		return ""
	}
	return "iothub"
}
