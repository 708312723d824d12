// Command locks simulates door locks: each is an MQTT 5 client (paho,
// client id = lock id) with a persistent session; it subscribes to
// devices/{id}/command, carries out the signed commands that pass its
// checks (signature, age, nonce) and acknowledges every command, and
// publishes its state to devices/{id}/state (QoS 1) every --interval and on
// every change. What it does is printed as JSON lines.
//
// Lines on stdin play what happens to a lock: "offline ID", "online ID"
// (its session resumes: queued commands arrive), "battery ID 12.5",
// "jam ID" (its bolt no longer moves).
//
//	locks --mqtt mqtt://127.0.0.1:1883 --first 10083618796833171 --count 3 --secret "$LOCK_SECRET"
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	"github.com/iothub-dev/iothub/examples/doorlock/lock"
)

// sessionExpiry is how long the hub keeps a lock's session (and the
// commands queued in it) while the lock is offline.
const sessionExpiry = 7 * 24 * 3600

func main() {
	broker := flag.String("mqtt", "mqtt://127.0.0.1:1883", "the hub's MQTT URL")
	first := flag.Uint64("first", 10083618796833171, "id of the first lock")
	count := flag.Int("count", 3, "number of locks: ids first, first+1, …")
	secret := flag.String("secret", os.Getenv("LOCK_SECRET"), "secret the locks' keys derive from (env LOCK_SECRET)")
	interval := flag.Duration("interval", time.Minute, "time between two state reports")
	maxAge := flag.Duration("max-age", 5*time.Minute, "oldest command ts accepted")
	flag.Parse()
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	u, err := url.Parse(*broker)
	if err != nil || *secret == "" {
		fmt.Fprintln(os.Stderr, "locks: need --mqtt URL and --secret (or LOCK_SECRET)")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	locks := map[string]*device{}
	done := make(chan struct{})
	for i := range *count {
		id := strconv.FormatUint(*first+uint64(i), 10)
		d := &device{id: id, broker: u, interval: *interval, log: log.With("lock", id),
			check: &lock.Checker{Secret: *secret, MaxAge: *maxAge},
			cmds:  make(chan lock.Command, 16), ctrl: make(chan []string, 4), up: make(chan struct{}, 1),
			state: lock.State{ProcessID: "0", Action: "lock", Battery: 100 - float64(i%10)*3, Version: 1.1, ClientID: id}}
		locks[id] = d
		go func() { d.run(ctx); done <- struct{}{} }()
	}
	go control(os.Stdin, locks, log)
	for range locks {
		<-done
	}
}

// control reads "offline ID", "online ID", "battery ID PCT", "jam ID".
func control(in *os.File, locks map[string]*device, log *slog.Logger) {
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || locks[f[1]] == nil {
			log.Warn("unknown control line", "line", sc.Text())
			continue
		}
		locks[f[1]].ctrl <- f
	}
}

// device is one lock. Its loop goroutine owns everything but the channels.
type device struct {
	id       string
	broker   *url.URL
	interval time.Duration
	log      *slog.Logger
	check    *lock.Checker
	cmds     chan lock.Command
	ctrl     chan []string
	up       chan struct{} // a connection is up and subscribed
	cm       *autopaho.ConnectionManager
	state    lock.State
	jammed   bool
}

func (d *device) run(ctx context.Context) {
	d.connect(ctx)
	tick := time.NewTicker(d.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			d.disconnect()
			return
		case <-d.up:
			d.log.Info("online")
			d.publish(ctx)
		case <-tick.C:
			d.publish(ctx)
		case c := <-d.cmds:
			d.execute(ctx, c)
		case f := <-d.ctrl:
			d.control(ctx, f)
		}
	}
}

// connect starts a connection manager that resumes the lock's session
// (clean start off) and reconnects by itself.
func (d *device) connect(ctx context.Context) {
	cfg := autopaho.ClientConfig{
		ServerUrls: []*url.URL{d.broker}, KeepAlive: 30, SessionExpiryInterval: sessionExpiry,
		// Random, growing waits between attempts: a fleet does not come
		// back all at once after a hub restart.
		ReconnectBackoff: autopaho.NewExponentialBackoff(500*time.Millisecond, time.Minute, 2*time.Second, 2),
		OnConnectionUp: func(cm *autopaho.ConnectionManager, _ *paho.Connack) {
			go func() {
				_, err := cm.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "devices/" + d.id + "/command", QoS: 1}}})
				if err != nil {
					d.log.Warn("subscribe failed", "error", err.Error())
					return
				}
				select {
				case d.up <- struct{}{}:
				default:
				}
			}()
		},
		OnConnectError: func(err error) { d.log.Warn("connect failed", "error", err.Error()) },
		ClientConfig:   paho.ClientConfig{ClientID: d.id, OnPublishReceived: []func(paho.PublishReceived) (bool, error){d.received}},
	}
	cm, err := autopaho.NewConnection(ctx, cfg)
	if err != nil {
		d.log.Error("connect", "error", err.Error())
		return
	}
	d.cm = cm
}

// received runs on paho's goroutine; the PUBACK goes when it returns.
func (d *device) received(pr paho.PublishReceived) (bool, error) {
	var c lock.Command
	if err := json.Unmarshal(pr.Packet.Payload, &c); err != nil {
		// Acknowledged all the same: sent again, it would not parse better.
		d.log.Warn("rejected", "reason", "not a command: "+err.Error())
	} else {
		d.cmds <- c
	}
	return true, nil
}

func (d *device) disconnect() {
	if d.cm == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = d.cm.Disconnect(ctx)
	d.cm = nil
}

// execute carries out a command that passes the checks.
func (d *device) execute(ctx context.Context, c lock.Command) {
	if bad := d.check.Check(d.id, c, time.Now()); len(bad) > 0 {
		d.log.Warn("rejected", "action", c.Action, "nonce", c.NonceStr, "findings", strings.Join(bad, ","))
		return
	}
	d.state.Action, d.state.ProcessID = c.Action, c.ProcessID
	if !d.jammed {
		d.state.LockState = map[string]int{"unlock": 1, "lock": 0}[c.Action]
	}
	d.log.Info("executed", "action", c.Action, "nonce", c.NonceStr, "process_id", c.ProcessID)
	d.publish(ctx)
}

// control plays one stdin line.
func (d *device) control(ctx context.Context, f []string) {
	switch f[0] {
	case "offline":
		d.disconnect()
		d.log.Info("offline")
		return
	case "online":
		if d.cm == nil {
			d.connect(ctx)
		}
		return
	case "battery":
		if len(f) == 3 {
			d.state.Battery, _ = strconv.ParseFloat(f[2], 64)
		}
	case "jam":
		d.jammed = true // the bolt stays where it is; the next command shows it
		d.log.Info("jammed")
		return
	default:
		d.log.Warn("unknown control line", "line", strings.Join(f, " "))
		return
	}
	d.publish(ctx)
}

// publish sends the state (QoS 1) when connected; offline, the next
// report after reconnecting says it.
func (d *device) publish(ctx context.Context) {
	if d.cm == nil {
		return
	}
	b, _ := json.Marshal(d.state)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := d.cm.Publish(pctx, &paho.Publish{Topic: "devices/" + d.id + "/state", QoS: 1, Payload: b}); err != nil {
		d.log.Warn("state not sent", "error", err.Error())
		return
	}
	d.log.Info("state", "action", d.state.Action, "lock_state", d.state.LockState, "battery", d.state.Battery)
}
