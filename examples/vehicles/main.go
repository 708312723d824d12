// Command vehicles plays the connected-vehicles system end to end on this
// machine: Kafka (kfake, unless --kafka names a real one), the hub with
// iothub.yaml, --vehicles simulated vehicles publishing telemetry once a
// second (`iothub bench simulate vehicles`), and the fleet service reading
// my-vehicles and sending commands back through Kafka. It prints the async
// and sync producers' metrics as it runs and side by side at the end, the
// fleet's per-vehicle statistics, and exits 1 if something expected is
// missing.
//
//	go build -o bin/vehicles/ ./cmd/iothub ./examples/vehicles/...
//	bin/vehicles/vehicles --vehicles 1000 --duration 30s
package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/iothub-dev/iothub/bridge"
	"github.com/iothub-dev/iothub/examples/internal/run"
)

//go:embed iothub.yaml
var hubConfig string

type options struct {
	run.Options
	vehicles   int
	duration   time.Duration
	speedLimit float64
	burst      time.Duration
}

func main() {
	var o options
	flag.IntVar(&o.vehicles, "vehicles", 1000, "simulated vehicles, one message a second each")
	flag.DurationVar(&o.duration, "duration", 30*time.Second, "how long the vehicles drive")
	flag.Float64Var(&o.speedLimit, "speed-limit", 120, "speed that earns a vehicle a command from the fleet service")
	o.Register(flag.CommandLine, 2*time.Minute)
	flag.DurationVar(&o.burst, "burst", 5*time.Second, "then publish as fast as the hub takes them for this long, to compare the producers' throughput (0: no burst)")
	flag.Parse()
	run.Main(func(ctx context.Context) int { return play(ctx, o, os.Stdout) })
}

// demo is one run.
type demo struct {
	*run.Script
	o   options
	r   *run.Runner
	hub *run.Hub
	out io.Writer
}

func play(ctx context.Context, o options, out io.Writer) int {
	r, script, err := run.Open("vehicles", o.Options, out, 4, "my-vehicles", "my-vehicles-sync", "vehicle-commands")
	if err != nil {
		fmt.Fprintln(os.Stderr, "vehicles:", err)
		return 1
	}
	defer r.Close()
	d := &demo{o: o, r: r, out: out, Script: script}
	if err := d.drive(ctx, r.Kafka.Addr); err != nil {
		return r.SetupFailed(err)
	}
	return d.End()
}

// drive starts everything and plays the run.
func (d *demo) drive(ctx context.Context, kafka string) error {
	hub, err := d.r.StartKafkaHub(hubConfig, d.out)
	if err != nil {
		return err
	}
	d.hub = hub
	fleet, err := d.r.Start("fleet", "fleet", []string{"--brokers", kafka, "--speed-limit", strconv.FormatFloat(d.o.speedLimit, 'f', -1, 64)})
	if err != nil {
		return err
	}
	vehicles, err := d.r.Start("vehicles", "iothub", []string{"bench", "simulate", "vehicles", "--addr", hub.MQTT,
		"--devices", strconv.Itoa(d.o.vehicles), "--duration", (d.o.duration + 10*time.Minute).String(), "--json"})
	if err != nil {
		return err
	}

	d.Step(fmt.Sprintf("%d vehicles connect and publish telemetry once a second for %s", d.o.vehicles, d.o.duration))
	d.Until(ctx, fmt.Sprintf("%d vehicles connected", d.o.vehicles), func() bool { return d.stats(ctx).Connections >= int64(d.o.vehicles) })
	d.progress(ctx, d.o.duration)

	d.Step("The fleet service stops; the speed warnings it sent reach the vehicles")
	fleet.Stop(30 * time.Second)
	var total run.Event
	d.Expect(ctx, "the fleet service's totals", func(e run.Event) bool {
		if e.Is("fleet", "total") {
			total = e
			return true
		}
		return false
	})
	sent := uint64(total.F("commands_sent"))
	d.Check(fmt.Sprintf("the fleet saw all %d vehicles (it saw %s)", d.o.vehicles, total.S("vehicles")), int(total.F("vehicles")) == d.o.vehicles)
	d.Check(fmt.Sprintf("the fleet sent speed warnings (%d)", sent), sent > 0)
	d.Until(ctx, fmt.Sprintf("the hub's Kafka consumer bridge published the %d commands", sent), func() bool {
		var m bridge.SourceMetrics
		_, err := d.hub.Call(ctx, http.MethodGet, "/api/v1/bridges/vehicle_commands/metrics", nil, &m)
		return err == nil && m.Published >= sent
	})
	d.Until(ctx, "each command acknowledged by its vehicle", func() bool {
		st := d.stats(ctx)
		return st.Inflight == 0 && st.Queued == 0
	})
	vehicles.Stop(30 * time.Second)
	var sim run.Event
	d.Expect(ctx, "the vehicles' summary", func(e run.Event) bool {
		if e.S("from") == "vehicles" && e.S("scenario") == "vehicles" {
			sim = e
			return true
		}
		return false
	})
	d.Check(fmt.Sprintf("the vehicles received %d commands (%s)", sent, sim.S("commands_received")), uint64(sim.F("commands_received")) == sent)

	d.fleetTable(total)

	d.Step("The async and sync producers, side by side")
	// Both drained before the snapshot: a sync backlog left over from the
	// steady run would otherwise be counted as sent during the burst.
	d.Until(ctx, "both producers sent everything the rule matched", func() bool {
		a, s := d.metrics(ctx, "vehicles_async"), d.metrics(ctx, "vehicles_sync")
		return a.Matched > 0 && a.Sent == a.Matched && s.Sent == s.Matched && s.Matched == a.Matched
	})
	fmt.Fprintf(d.out, "  the vehicles published %s messages in %.1f s (%.0f/s)\n", sim.S("published"), sim.F("elapsed_ns")/1e9, sim.F("rate_per_sec"))
	steady := [2]bridge.Metrics{d.metrics(ctx, "vehicles_async"), d.metrics(ctx, "vehicles_sync")}
	if d.o.burst > 0 {
		return d.sideBySide(steady, d.burstRun(ctx, steady))
	}
	return d.sideBySide(steady, nil)
}

// stats is GET /api/v1/node/stats.
func (d *demo) stats(ctx context.Context) (st struct {
	Connections, Inflight, Queued int64
	MessagesIn                    uint64 `json:"messages_in"`
},
) {
	_, _ = d.hub.Call(ctx, http.MethodGet, "/api/v1/node/stats", nil, &st)
	return st
}

// metrics is a producer bridge's metrics.
func (d *demo) metrics(ctx context.Context, name string) bridge.Metrics {
	var m bridge.Metrics
	_, _ = d.hub.Call(ctx, http.MethodGet, "/api/v1/bridges/"+name+"/metrics", nil, &m)
	return m
}

// progress prints both producers' progress every 5 s for span.
func (d *demo) progress(ctx context.Context, span time.Duration) {
	start := time.Now()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	fmt.Fprintf(d.out, "  %-5s %-32s %-32s %s\n", "t", "async: sent (rate/s, queued)", "sync: sent (rate/s, queued)", "fleet: records, lag p50/p99 ms")
	for time.Since(start) < span && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
		a, s := d.metrics(ctx, "vehicles_async"), d.metrics(ctx, "vehicles_sync")
		f := d.lastFleetStats()
		fmt.Fprintf(d.out, "  %-5s %-32s %-32s %s\n", time.Since(start).Truncate(time.Second),
			fmt.Sprintf("%d (%.0f, %d)", a.Sent, a.Rate, a.Queued), fmt.Sprintf("%d (%.0f, %d)", s.Sent, s.Rate, s.Queued),
			fmt.Sprintf("%s, %s/%s", f.S("records"), f.S("lag_p50_ms"), f.S("lag_p99_ms")))
	}
}

func (d *demo) lastFleetStats() run.Event {
	all := d.r.Events.All()
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].Is("fleet", "stats") {
			return all[i]
		}
	}
	return run.Event{}
}

// burst is what each producer did in the window of a burst: the records
// it matched and sent, and what was still queued at the end.
type burst struct {
	published uint64 // by bench pub
	window    time.Duration
	after     [2]bridge.Metrics
	matched   [2]uint64
	sent      [2]uint64
}

// burstRun has `iothub bench pub` publish 10,000 messages/s for --burst,
// and measures both producers over that time and 5 s more.
func (d *demo) burstRun(ctx context.Context, before [2]bridge.Metrics) *burst {
	fmt.Fprintf(d.out, "  a burst: 20 clients publish 10,000 messages/s (QoS 0) for %s...\n", d.o.burst)
	b := &burst{window: d.o.burst + 5*time.Second}
	end := time.Now().Add(b.window)
	out, err := d.r.Run(ctx, "iothub", []string{"bench", "pub", "--addr", d.hub.MQTT, "--clients", "20", "--qos", "0", "--total-rate", "10000",
		"--topic", "mqttx/simulate/burst/%c", "--payload", `{"speed":%r,"soc":50,"seq":%n}`, "--duration", d.o.burst.String(), "--json"})
	if err != nil {
		fmt.Fprintf(d.out, "  bench pub: %v\n", err)
	}
	var res struct {
		Published uint64 `json:"published"`
	}
	_ = json.Unmarshal(out, &res)
	b.published = res.Published
	select { // a measurement window, not a wait for an event
	case <-time.After(time.Until(end)):
	case <-ctx.Done():
	}
	for i, n := range [2]string{"vehicles_async", "vehicles_sync"} {
		b.after[i] = d.metrics(ctx, n)
		b.matched[i], b.sent[i] = b.after[i].Matched-before[i].Matched, b.after[i].Sent-before[i].Sent
	}
	d.Until(ctx, "the async producer sent the whole burst", func() bool {
		m := d.metrics(ctx, "vehicles_async")
		return m.Sent == m.Matched && m.Matched > before[0].Matched
	})
	return b
}

// sideBySide prints the two producers' metrics in two columns: the steady
// run, then the burst.
func (d *demo) sideBySide(steady [2]bridge.Metrics, b *burst) error {
	fmt.Fprintln(d.out)
	tw := tabwriter.NewWriter(d.out, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(name string, f func(i int, m bridge.Metrics) string) {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t\n", name, f(0, steady[0]), f(1, steady[1]))
	}
	fmt.Fprintf(tw, "  \tasync (my-vehicles)\tsync (my-vehicles-sync)\t\n")
	row("steady: records sent", func(_ int, m bridge.Metrics) string { return strconv.FormatUint(m.Sent, 10) })
	row("failed / dropped", func(_ int, m bridge.Metrics) string { return fmt.Sprintf("%d / %d", m.Failed, sum(m.Dropped)) })
	row("sends (batches)", func(_ int, m bridge.Metrics) string { return strconv.FormatUint(m.SendLatency.Count, 10) })
	row("records per send", func(_ int, m bridge.Metrics) string {
		return fmt.Sprintf("%.1f", float64(m.Sent)/float64(max(m.SendLatency.Count, 1)))
	})
	row("send latency p50 / p99 ms", func(_ int, m bridge.Metrics) string {
		return fmt.Sprintf("%.2f / %.2f", m.SendLatency.P50MS, m.SendLatency.P99MS)
	})
	if b != nil {
		fmt.Fprintf(tw, "  burst: records (%d published)\t%d\t%d\t\n", b.published, b.matched[0], b.matched[1])
		row(fmt.Sprintf("sent within %s", b.window), func(i int, _ bridge.Metrics) string { return strconv.FormatUint(b.sent[i], 10) })
		row("records sent/s", func(i int, _ bridge.Metrics) string {
			return fmt.Sprintf("%.0f", float64(b.sent[i])/b.window.Seconds())
		})
		row("still queued (on disk)", func(i int, _ bridge.Metrics) string {
			return fmt.Sprintf("%d (%d)", b.after[i].Queued, b.after[i].QueuedDisk)
		})
	}
	_ = tw.Flush()
	d.Check("no record failed or was dropped", steady[0].Failed+steady[1].Failed+sum(steady[0].Dropped)+sum(steady[1].Dropped) == 0)
	return nil
}

func sum(m map[string]uint64) (n uint64) {
	for _, v := range m {
		n += v
	}
	return n
}

// fleetTable prints the fleet's statistics of the first vehicles, and its
// totals.
func (d *demo) fleetTable(total run.Event) {
	fmt.Fprintf(d.out, "\n== The fleet service's per-vehicle statistics (my-vehicles, group vehicles-fleet; the first 10)\n")
	tw := tabwriter.NewWriter(d.out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  VEHICLE\tRECORDS\tAVG km/h\tMAX km/h\tSOC %%\tWARNED\n")
	n := 0
	for _, e := range d.r.Events.All() {
		if e.Is("fleet", "vehicle") && n < 10 {
			n++
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", e.S("vehicle"), e.S("records"), e.S("avg_speed"), e.S("max_speed"),
				e.S("soc"), e.S("warned"))
		}
	}
	_ = tw.Flush()
	fmt.Fprintf(d.out, "  all: %s vehicles, %s records (%s/s), %s speed warnings; hub → fleet delay p50 %s ms, p99 %s ms\n",
		total.S("vehicles"), total.S("records"), total.S("rate"), total.S("commands_sent"), total.S("lag_p50_ms"), total.S("lag_p99_ms"))
}
