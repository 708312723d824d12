// Command remote plays the smart-remote system on this machine: a hub
// (or, with --nodes 3, a cluster of three behind HAProxy), --devices
// devices holding MQTT-over-WebSocket connections (`iothub bench simulate
// doorlock --ws /mqtt`, in processes of their own), and the phone app's
// backend (phoneapp) sending commands through the HTTP API at a steady
// rate to random devices. It prints the acknowledged latency p50/p99 and
// the hub's memory per connection, and exits 1 if a command was not
// acknowledged.
//
//	go build -o bin/remote/ ./cmd/iothub ./examples/remote/...
//	bin/remote/remote --devices 19000 --rate 100 --duration 30s
//	bin/remote/remote --devices 19000 --nodes 3     # needs haproxy
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/iothub-dev/iothub/examples/internal/run"
)

// firstDevice is the id of device 0 of `bench simulate doorlock`.
const firstDevice = 10083618790000000

type options struct {
	run.Options
	devices    int
	rate       float64
	duration   time.Duration
	nodes      int
	perProcess int
	connect    time.Duration
}

func main() {
	var o options
	flag.IntVar(&o.devices, "devices", 19000, "simulated devices (MQTT over WebSocket)")
	flag.Float64Var(&o.rate, "rate", 100, "commands per second from the phone app")
	flag.DurationVar(&o.duration, "duration", 30*time.Second, "how long the phone app sends")
	flag.IntVar(&o.nodes, "nodes", 1, "hub nodes: 1, or 3 (a cluster behind HAProxy; the API is called on a node that does not hold the device)")
	flag.IntVar(&o.perProcess, "per-process", 9500, "devices per simulator process, each with its own address to connect to (HAProxy holds two files per device and may open 20,000 here)")
	flag.DurationVar(&o.connect, "connect-timeout", 10*time.Minute, "how long the devices may take to connect")
	o.Register(flag.CommandLine, 2*time.Minute)
	flag.Parse()
	run.Main(func(ctx context.Context) int { return play(ctx, o, os.Stdout) })
}

// demo is one run.
type demo struct {
	*run.Script
	o     options
	r     *run.Runner
	hubs  []*run.Hub
	lbs   []string // HAProxy addresses (cluster), else the hub's WebSocket address
	out   io.Writer
	rssAt map[int]int64 // pid → RSS before the devices
}

func play(ctx context.Context, o options, out io.Writer) int {
	if o.nodes != 1 && o.nodes != 3 {
		fmt.Fprintln(os.Stderr, "remote: --nodes is 1 or 3")
		return 2
	}
	r, script, err := run.Open("remote", o.Options, out, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, "remote:", err)
		return 1
	}
	defer r.Close()
	d := &demo{o: o, r: r, out: out, Script: script, rssAt: map[int]int64{}}
	if err := d.drive(ctx); err != nil {
		return r.SetupFailed(err)
	}
	return d.End()
}

func (d *demo) drive(ctx context.Context) error {
	if d.o.perProcess <= 0 {
		d.o.perProcess = 9500
	}
	sims := (d.o.devices + d.o.perProcess - 1) / d.o.perProcess
	var err error
	if d.o.nodes == 1 {
		err = d.startHub(sims)
	} else {
		err = d.startCluster(ctx, sims)
	}
	if err != nil {
		return err
	}
	for _, h := range d.hubs {
		d.rssAt[h.Pid()], _ = run.RSS(h.Pid())
	}
	if err := d.connectDevices(ctx); err != nil {
		return err
	}
	d.memory()

	apis := make([]string, len(d.hubs))
	for i, h := range d.hubs {
		apis[i] = "http://" + h.API
	}
	args := []string{"--api", strings.Join(apis, ","), "--first", strconv.Itoa(firstDevice), "--count", strconv.Itoa(d.o.devices),
		"--rate", strconv.FormatFloat(d.o.rate, 'f', -1, 64), "--duration", d.o.duration.String()}
	what := "the phone app sends %.0f commands/s for %s to random devices, each through the API, waiting for the device's PUBACK"
	if d.o.nodes > 1 {
		args = append(args, "--remote")
		what += ", always through a node that does not hold the device"
	}
	d.Step(fmt.Sprintf(what, d.o.rate, d.o.duration))
	if _, err := d.r.Start("phoneapp", "phoneapp", args, "IOTHUB_API_KEY="+d.hubs[0].Key); err != nil {
		return err
	}
	d.progress(ctx)
	var res run.Event
	wait := d.Wait
	d.Wait = d.o.duration + d.o.Wait
	d.Expect(ctx, "the phone app's result", func(e run.Event) bool {
		if e.Is("phoneapp", "result") {
			res = e
			return true
		}
		return false
	})
	d.Wait = wait
	d.result(res)
	return nil
}

// startHub starts one hub with a WebSocket listener (path /mqtt) for
// each simulator, on 127.0.0.1, 127.0.0.2, …: connections to one address
// and port can use at most the machine's ephemeral ports (about 28,000
// here), which other programs share.
func (d *demo) startHub(sims int) error {
	var cfg strings.Builder
	cfg.WriteString("listeners:\n  ws:\n")
	for i := range sims {
		addr, err := run.FreeAddrOn(fmt.Sprintf("127.0.0.%d", i+1))
		if err != nil {
			return err
		}
		fmt.Fprintf(&cfg, "    - {name: ws-%d, address: %q, path: /mqtt}\n", i, addr)
		d.lbs = append(d.lbs, addr)
	}
	h, err := d.r.StartHub("iothub", run.HubOptions{Config: cfg.String(), WS: d.lbs[0]})
	if err != nil {
		return err
	}
	d.hubs = []*run.Hub{h}
	fmt.Fprintf(d.out, "hub: WebSocket ws://%s/mqtt, API http://%s\nlogs in %s (removed at the end unless --keep)\n",
		strings.Join(d.lbs, "/mqtt, ws://"), h.API, d.r.Dir)
	return nil
}

// connectDevices starts the simulators, one per load balancer (or one for
// the hub), and waits until every device is connected.
func (d *demo) connectDevices(ctx context.Context) error {
	per := d.o.perProcess
	d.Step(fmt.Sprintf("%d devices connect over MQTT over WebSocket and subscribe to devices/{id}/command", d.o.devices))
	var sims []*run.Proc
	for i, first := 0, 0; first < d.o.devices; i, first = i+1, first+per {
		n := min(per, d.o.devices-first)
		addr := d.lbs[i]
		p, err := d.r.Start(fmt.Sprintf("devices-%d", i), "iothub", []string{"bench", "simulate", "doorlock", "--ws", "/mqtt", "--addr", addr,
			"--devices", strconv.Itoa(n), "--first", strconv.Itoa(first), "--interval", "10m", "--duration", "24h", "--json"})
		if err != nil {
			return err
		}
		sims = append(sims, p)
		fmt.Fprintf(d.out, "  simulator %d: devices %d-%d through %s\n", i, first, first+n-1, addr)
	}
	start, last := time.Now(), time.Now()
	wait := d.Wait
	d.Wait = d.o.connect
	defer func() { d.Wait = wait }()
	ok := d.Until(ctx, fmt.Sprintf("%d devices connected", d.o.devices), func() bool {
		for _, p := range sims {
			select {
			case <-p.Done():
				return true // it gave up: see below
			default:
			}
		}
		c, _ := d.stats(ctx)
		if time.Since(last) >= 5*time.Second {
			last = time.Now()
			fmt.Fprintf(d.out, "  %-5s connected %d\n", time.Since(start).Truncate(time.Second), c)
		}
		return c >= int64(d.o.devices)
	})
	for _, p := range sims {
		select {
		case <-p.Done():
			log, _ := os.ReadFile(p.Log)
			return fmt.Errorf("simulator %s stopped (%w): %s", p.Name, p.Err(), strings.TrimSpace(string(log)))
		default:
		}
	}
	if !ok {
		return fmt.Errorf("the devices did not connect within %s", d.o.connect)
	}
	fmt.Fprintf(d.out, "  all connected after %s\n", time.Since(start).Round(100*time.Millisecond))
	return nil
}

// stats returns the connections and the messages in flight or queued,
// over every node.
func (d *demo) stats(ctx context.Context) (conns, pending int64) {
	for _, h := range d.hubs {
		var st struct {
			Connections, Inflight, Queued int64
		}
		_, _ = h.Call(ctx, http.MethodGet, "/api/v1/node/stats", nil, &st)
		conns += st.Connections
		pending += st.Inflight + st.Queued
	}
	return conns, pending
}

// memory prints each node's memory and files, and the memory per
// connection.
func (d *demo) memory() {
	time.Sleep(2 * time.Second) // a measurement: let the last connections' buffers settle
	var grown int64
	for _, h := range d.hubs {
		rss, err := run.RSS(h.Pid())
		files, _ := run.OpenFiles(h.Pid())
		if err != nil {
			fmt.Fprintf(d.out, "  %s: memory not measured: %v\n", h.Name, err)
			return
		}
		grown += rss - d.rssAt[h.Pid()]
		fmt.Fprintf(d.out, "  %s: resident memory %.1f MiB (%.1f MiB before the devices), %d open files\n",
			h.Name, float64(rss)/(1<<20), float64(d.rssAt[h.Pid()])/(1<<20), files)
	}
	fmt.Fprintf(d.out, "  memory per connection: %.1f KiB (resident memory grown / devices)\n", float64(grown)/1024/float64(d.o.devices))
}

// progress relays the phone app's progress lines until it ends.
func (d *demo) progress(ctx context.Context) {
	shown := 0
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		for _, e := range d.r.Events.All() {
			if e.Is("phoneapp", "progress") {
				if shown == 0 || e.F("sent") > float64(shown) {
					shown = int(e.F("sent"))
					fmt.Fprintf(d.out, "  sent %s, acked %s, p50 %s ms, p99 %s ms\n", e.S("sent"), e.S("acked"), e.S("p50_ms"), e.S("p99_ms"))
				}
			}
			if e.Is("phoneapp", "result") {
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// result prints the phone app's result and checks that every command was
// acknowledged.
func (d *demo) result(res run.Event) {
	statuses, _ := res["statuses"].(map[string]any)
	sent := int(res.F("sent"))
	acked, _ := statuses["acked"].(float64)
	var parts []string
	for s, n := range statuses {
		parts = append(parts, fmt.Sprintf("%s %v", s, n))
	}
	slices.Sort(parts)
	fmt.Fprintf(d.out, "\n  commands sent %d: %s\n", sent, strings.Join(parts, ", "))
	fmt.Fprintf(d.out, "  acked latency (request to answer, the device's PUBACK included): p50 %s ms, p90 %s ms, p99 %s ms, max %s ms\n",
		res.S("p50_ms"), res.S("p90_ms"), res.S("p99_ms"), res.S("max_ms"))
	d.Check(fmt.Sprintf("every command acknowledged by its device (%d of %d)", int(acked), sent), sent > 0 && int(acked) == sent)
	if d.o.nodes > 1 {
		d.Check(fmt.Sprintf("every command sent through a node that does not hold the device (%s of %d)", res.S("remote"), sent),
			int(res.F("remote")) == sent)
	}
}
