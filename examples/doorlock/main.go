// Command doorlock plays the door-lock system end to end on this machine:
// Kafka (kfake, unless --kafka names a real one), the hub with
// iothub.yaml's rules, the three business services (notification,
// monitoring, audit: each in its own consumer group), a few locks and the
// backend, then a scripted story — unlocks, a low battery, a jammed bolt,
// an attacker replaying and altering captured commands, a lock offline
// then back. It prints what each service saw, with the audit's verdicts,
// and exits 1 if an expected event is missing.
//
//	go build -o bin/doorlock/ ./cmd/iothub ./examples/doorlock/...
//	bin/doorlock/doorlock
package main

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	"github.com/iothub-dev/iothub/examples/doorlock/lock"
	"github.com/iothub-dev/iothub/examples/internal/run"
)

//go:embed iothub.yaml
var hubConfig string

// The locks of the story; --locks adds quiet ones after them.
const (
	frontDoor = "10083618796833171" // Alice's
	garage    = "10083618796833172" // Bob's
	backDoor  = "10083618796833173" // Carol's
)

var owners = frontDoor + "=alice@example.com," + garage + "=bob@example.com," + backDoor + "=carol@example.com"

func main() {
	o := options{}
	flag.IntVar(&o.locks, "locks", 5, "simulated locks (at least 3)")
	o.Register(flag.CommandLine, time.Minute)
	flag.Parse()
	run.Main(func(ctx context.Context) int { return play(ctx, o, os.Stdout) })
}

type options struct {
	run.Options
	locks int
}

// demo is one run: what was started, and the story's script.
type demo struct {
	*run.Script
	o      options
	r      *run.Runner
	hub    *run.Hub
	locks  *run.Proc
	secret string
	out    io.Writer
}

// play sets everything up, plays the story, prints the summary and
// returns the exit code.
func play(ctx context.Context, o options, out io.Writer) int {
	r, script, err := run.Open("doorlock", o.Options, out, 2, "message_state", "message_command")
	if err != nil {
		fmt.Fprintln(os.Stderr, "doorlock:", err)
		return 1
	}
	defer r.Close()
	d := &demo{o: o, r: r, out: out, Script: script}
	if err := d.setup(ctx, r.Kafka.Addr); err != nil {
		return r.SetupFailed(err)
	}
	d.story(ctx)
	d.summary()
	return d.End()
}

// setup starts the hub, the services, the locks and the owner's app.
func (d *demo) setup(ctx context.Context, kafka string) error {
	hub, err := d.r.StartKafkaHub(hubConfig, d.out)
	if err != nil {
		return err
	}
	d.hub = hub
	var b [16]byte
	_, _ = rand.Read(b[:])
	d.secret = hex.EncodeToString(b[:])
	starts := []struct {
		name string
		args []string
		env  string
	}{
		{"notification", []string{"--brokers", kafka, "--owners", owners}, ""},
		{"monitoring", []string{"--brokers", kafka, "--api", "http://" + hub.API}, "IOTHUB_API_KEY=" + hub.Key},
		{"audit", []string{"--brokers", kafka}, "LOCK_SECRET=" + d.secret},
		{"locks", []string{"--mqtt", "mqtt://" + hub.MQTT, "--first", frontDoor, "--count", strconv.Itoa(max(d.o.locks, 3))}, "LOCK_SECRET=" + d.secret},
	}
	for _, s := range starts {
		p, err := d.r.Start(s.name, s.name, s.args, s.env)
		if err != nil {
			return err
		}
		if s.name == "locks" {
			d.locks = p
		}
	}
	if err := ownerApp(ctx, hub.MQTT, &d.r.Events); err != nil {
		return err
	}
	for i := range max(d.o.locks, 3) {
		id := strconv.Itoa(10083618796833171 + i)
		if !d.Expect(ctx, "lock "+id+" online", func(e run.Event) bool { return e.Is("locks", "online") && e.S("lock") == id }) {
			return fmt.Errorf("lock %s did not come online", id)
		}
	}
	return nil
}

// story is the script. Each step acts, then waits for what should follow.
func (d *demo) story(ctx context.Context) {
	d.Step("Alice unlocks her front door from her phone")
	unlock := d.backend(ctx, "unlock", frontDoor, "acked")
	d.commandOK(ctx, frontDoor, unlock)
	d.Expect(ctx, "notification: front door unlocked, to Alice", notified("unlocked", frontDoor))

	d.Step("...and locks it again")
	lockCmd := d.backend(ctx, "lock", frontDoor, "acked")
	d.commandOK(ctx, frontDoor, lockCmd)
	d.Expect(ctx, "notification: front door locked, to Alice", notified("locked", frontDoor))

	d.Step("Bob's garage lock reports a low battery")
	d.control("battery", garage, "12.5")
	d.alarm(ctx, garage, "low_battery")

	d.Step("Carol unlocks her back door, but the bolt jams")
	d.control("jam", backDoor, "")
	// The jam comes on the locks' stdin, the command through the hub: the
	// command must not overtake it.
	d.Expect(ctx, "lock "+backDoor+" jammed", func(e run.Event) bool { return e.Is("locks", "jammed") && e.S("lock") == backDoor })
	jammed := d.backend(ctx, "unlock", backDoor, "acked")
	d.commandOK(ctx, backDoor, jammed)
	d.alarm(ctx, backDoor, "abnormal_state")

	d.Step("An attacker with a stolen API key replays the captured unlock")
	d.attack(ctx, frontDoor, unlock)
	d.commandBad(ctx, frontDoor, unlock, lock.ReplayedNonce)

	d.Step("The attacker turns the captured lock command into an unlock (fresh nonce, old sign)")
	altered := lockCmd
	altered.Action, altered.NonceStr = "unlock", "0badc0de"
	d.attack(ctx, frontDoor, altered)
	d.commandBad(ctx, frontDoor, altered, lock.BadSignature)

	d.Step("The attacker replays a genuine unlock the backend signed yesterday")
	old, _ := lock.NewCommand(lock.Key(d.secret, frontDoor), "unlock", time.Now().Add(-24*time.Hour))
	d.attack(ctx, frontDoor, old)
	d.commandBad(ctx, frontDoor, old, lock.StaleTS)

	d.Step("Bob's garage lock goes offline; Bob unlocks it anyway")
	d.control("offline", garage, "")
	d.Until(ctx, "the hub sees the garage lock offline", func() bool { return d.offline(ctx, garage) })
	late := d.backend(ctx, "unlock", garage, "queued")

	d.Step("The garage lock comes back: its session resumes and the queued unlock arrives")
	d.control("online", garage, "")
	d.commandOK(ctx, garage, late)
	d.Expect(ctx, "notification: garage unlocked, to Bob", notified("unlocked", garage))
}

// commandOK expects the lock to carry out cmd, and the audit to pass it.
func (d *demo) commandOK(ctx context.Context, id string, cmd lock.Command) {
	d.Expect(ctx, "lock "+id+" executes "+cmd.Action+" "+cmd.NonceStr, func(e run.Event) bool {
		return e.Is("locks", "executed") && e.S("lock") == id && e.S("nonce") == cmd.NonceStr
	})
	d.Expect(ctx, "audit: "+cmd.Action+" "+cmd.NonceStr+" ok", audited(id, cmd, "ok"))
}

// commandBad expects the lock to refuse cmd and the audit to flag it.
func (d *demo) commandBad(ctx context.Context, id string, cmd lock.Command, finding string) {
	d.Expect(ctx, "lock "+id+" refuses "+cmd.Action+" "+cmd.NonceStr+": "+finding, func(e run.Event) bool {
		return e.Is("locks", "rejected") && e.S("lock") == id && e.S("nonce") == cmd.NonceStr && strings.Contains(e.S("findings"), finding)
	})
	d.Expect(ctx, "audit: "+cmd.Action+" "+cmd.NonceStr+" "+finding, audited(id, cmd, finding))
}

// alarm expects monitoring's alarm, and the owner's app to receive it.
func (d *demo) alarm(ctx context.Context, id, alarm string) {
	d.Expect(ctx, "monitoring: "+alarm+" on "+id, func(e run.Event) bool {
		return e.Is("monitoring", "alarm") && e.S("lock") == id && e.S("alarm") == alarm
	})
	d.Expect(ctx, "owner's app: "+alarm+" on alarms/"+id, func(e run.Event) bool {
		return e.Is("owner-app", "alarm") && e.S("topic") == "alarms/"+id && e.S("alarm") == alarm
	})
}

func notified(what, id string) func(run.Event) bool {
	return func(e run.Event) bool { return e.Is("notification", what) && e.S("lock") == id }
}

func audited(id string, cmd lock.Command, verdict string) func(run.Event) bool {
	return func(e run.Event) bool {
		return e.Is("audit", "command") && e.S("lock") == id && e.S("nonce") == cmd.NonceStr && strings.Contains(e.S("verdict"), verdict)
	}
}

// control writes a line to the locks' stdin.
func (d *demo) control(what, id, arg string) {
	fmt.Fprintf(d.locks.Stdin, "%s %s %s\n", what, id, arg)
}

// backend sends a signed command with the backend program and expects
// the hub's answer want.
func (d *demo) backend(ctx context.Context, action, id, want string) lock.Command {
	out, err := d.r.Run(ctx, "backend", []string{"--api", "http://" + d.hub.API, action, id},
		"IOTHUB_API_KEY="+d.hub.Key, "LOCK_SECRET="+d.secret)
	var res struct {
		Command lock.Command `json:"command"`
		Answer  struct {
			Status    string  `json:"status"`
			LatencyMS float64 `json:"latency_ms"`
		} `json:"answer"`
	}
	if jerr := json.Unmarshal(out, &res); jerr != nil && err == nil {
		err = jerr
	}
	d.r.Events.Add(run.Event{"from": "backend", "msg": "answer", "lock": id, "action": action,
		"nonce": res.Command.NonceStr, "status": res.Answer.Status, "latency_ms": res.Answer.LatencyMS})
	d.Expect(ctx, "backend: "+action+" "+id+" answered "+want, func(e run.Event) bool {
		return e.Is("backend", "answer") && e.S("nonce") == res.Command.NonceStr && e.S("status") == want
	})
	if err != nil {
		fmt.Fprintf(d.out, "  backend: %v\n", err)
	}
	return res.Command
}

// attack sends cmd as is through the API, as someone holding a stolen API
// key would: the hub delivers it (it cannot tell); the lock and the audit
// must.
func (d *demo) attack(ctx context.Context, id string, cmd lock.Command) {
	var answer struct {
		Status string `json:"status"`
	}
	_, err := d.hub.Call(ctx, http.MethodPost, "/api/v1/devices/"+id+"/commands", map[string]any{"payload": cmd}, &answer)
	if err != nil {
		fmt.Fprintf(d.out, "  attacker: %v\n", err)
	}
	d.r.Events.Add(run.Event{"from": "attacker", "msg": "sent", "lock": id, "action": cmd.Action, "nonce": cmd.NonceStr, "status": answer.Status})
	fmt.Fprintf(d.out, "  attacker: %s %s (nonce %s) answered %s\n", cmd.Action, id, cmd.NonceStr, answer.Status)
}

// offline reports whether the hub says the client is disconnected.
func (d *demo) offline(ctx context.Context, id string) bool {
	var c struct {
		Connected bool `json:"connected"`
	}
	code, err := d.hub.Call(ctx, http.MethodGet, "/api/v1/clients/"+id, nil, &c)
	return err == nil && code == http.StatusOK && !c.Connected
}

// ownerApp subscribes to alarms/# as the owners' phone app would, and
// turns each alarm into an event from "owner-app".
func ownerApp(ctx context.Context, addr string, events *run.Events) error {
	u, _ := url.Parse("mqtt://" + addr)
	subscribed := make(chan error, 1)
	cfg := autopaho.ClientConfig{
		ServerUrls: []*url.URL{u}, KeepAlive: 30,
		OnConnectionUp: func(cm *autopaho.ConnectionManager, _ *paho.Connack) {
			go func() {
				_, err := cm.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "alarms/#", QoS: 1}}})
				select {
				case subscribed <- err:
				default:
				}
			}()
		},
		ClientConfig: paho.ClientConfig{ClientID: "owner-app", OnPublishReceived: []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) {
				e := run.Event{}
				_ = json.Unmarshal(pr.Packet.Payload, &e)
				e["from"], e["msg"], e["topic"] = "owner-app", "alarm", pr.Packet.Topic
				events.Add(e)
				return true, nil
			}}},
	}
	if _, err := autopaho.NewConnection(ctx, cfg); err != nil {
		return fmt.Errorf("owner's app: %w", err)
	}
	select {
	case err := <-subscribed:
		return err
	case <-time.After(time.Minute):
		return fmt.Errorf("owner's app: not subscribed within a minute")
	}
}
