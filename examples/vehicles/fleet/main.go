// Command fleet is a vehicle fleet's backend service on Kafka. It reads
// the telemetry the hub writes to my-vehicles (record key = the vehicle's
// client id, record timestamp = when the hub received the PUBLISH) in its
// own consumer group, keeps per-vehicle statistics, and, the first time a
// vehicle goes over --speed-limit, sends it a command by writing a record
// to vehicle-commands (key = the vehicle's id), which the hub's Kafka
// consumer bridge publishes to vehicles/{id}/command.
//
// It prints JSON lines: "stats" every --every (records, vehicles, rate,
// the delay from the hub receiving a message to this service reading it:
// its percentiles over the period, and at the end over the last million
// records at most),
// and at the end (SIGTERM or Ctrl-C) one "vehicle" line per vehicle and a
// "total" line.
//
//	fleet --brokers 127.0.0.1:9092
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// telemetry is the part of a vehicle's message the statistics use
// (testdata/scenarios/vehicles/telemetry.json).
type telemetry struct {
	Speed float64 `json:"speed"`
	SOC   float64 `json:"soc"`
}

// vehicle is one vehicle's statistics.
type vehicle struct {
	records            int
	speedSum, maxSpeed float64
	soc                float64
	first, last        time.Time
	warned             bool
}

func main() {
	brokers := flag.String("brokers", "127.0.0.1:9092", "Kafka bootstrap servers, comma-separated")
	group := flag.String("group", "vehicles-fleet", "consumer group")
	topic := flag.String("topic", "my-vehicles", "telemetry topic")
	commands := flag.String("commands", "vehicle-commands", "command topic")
	limit := flag.Float64("speed-limit", 120, "speed (km/h) that earns a vehicle a speed_warning command")
	every := flag.Duration("every", 5*time.Second, "how often to print the running statistics")
	flag.Parse()
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(*brokers, ",")...), kgo.ConsumerGroup(*group),
		kgo.ConsumeTopics(*topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DefaultProduceTopic(*commands))
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleet:", err)
		os.Exit(1)
	}
	f := &fleet{cl: cl, log: log, limit: *limit, vehicles: map[string]*vehicle{}, start: time.Now()}
	tick := time.NewTicker(*every)
	defer tick.Stop()
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, *every)
		fs := cl.PollFetches(pctx)
		cancel()
		fs.EachError(func(t string, p int32, err error) {
			if pctx.Err() == nil {
				log.Warn("fetch failed", "topic", t, "partition", p, "error", err.Error())
			}
		})
		fs.EachRecord(f.record)
		select {
		case <-tick.C:
			f.stats()
		default:
		}
	}
	f.finish()
	cl.Close() // commits the offsets read
}

// fleet is the service's state; only the main goroutine touches it, but
// for the counters the producer's callbacks update (atomics).
type fleet struct {
	cl       *kgo.Client
	log      *slog.Logger
	limit    float64
	vehicles map[string]*vehicle
	start    time.Time
	records  int
	lags     []time.Duration // of the last maxLags records at most
	period   []time.Duration // of the records since the last stats line
	sent     atomic.Int64    // commands Kafka acknowledged
	failed   atomic.Int64
}

// maxLags bounds the delays kept for the final percentiles (8 MiB).
const maxLags = 1 << 20

func (f *fleet) record(r *kgo.Record) {
	var t telemetry
	if err := json.Unmarshal(r.Value, &t); err != nil {
		f.log.Warn("skipped a record", "key", string(r.Key), "error", err.Error())
		return
	}
	id := string(r.Key)
	v := f.vehicles[id]
	if v == nil {
		v = &vehicle{first: r.Timestamp}
		f.vehicles[id] = v
	}
	v.records++
	v.speedSum += t.Speed
	v.maxSpeed = max(v.maxSpeed, t.Speed)
	v.soc, v.last = t.SOC, r.Timestamp
	f.records++
	lag := time.Since(r.Timestamp)
	if len(f.lags) == maxLags {
		f.lags = append(f.lags[:0], f.lags[maxLags/2:]...)
	}
	f.lags, f.period = append(f.lags, lag), append(f.period, lag)
	if t.Speed > f.limit && !v.warned {
		v.warned = true
		cmd, _ := json.Marshal(map[string]any{"action": "speed_warning", "speed": t.Speed, "limit": f.limit})
		f.cl.Produce(context.Background(), &kgo.Record{Key: r.Key, Value: cmd}, func(_ *kgo.Record, err error) {
			if err != nil {
				f.failed.Add(1)
				f.log.Warn("command not sent", "vehicle", id, "error", err.Error())
				return
			}
			f.sent.Add(1)
		})
	}
}

// stats prints the running totals.
func (f *fleet) stats() {
	p50, p99 := percentiles(f.period)
	f.log.Info("stats", "vehicles", len(f.vehicles), "records", f.records, "commands_sent", f.sent.Load(),
		"lag_p50_ms", p50, "lag_p99_ms", p99)
	f.period = f.period[:0]
}

// finish waits for the commands in flight and prints every vehicle and
// the totals.
func (f *fleet) finish() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = f.cl.Flush(ctx)
	ids := make([]string, 0, len(f.vehicles))
	for id := range f.vehicles {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		v := f.vehicles[id]
		f.log.Info("vehicle", "vehicle", id, "records", v.records, "avg_speed", round(v.speedSum/float64(v.records)),
			"max_speed", v.maxSpeed, "soc", v.soc, "seconds", round(v.last.Sub(v.first).Seconds()), "warned", v.warned)
	}
	p50, p99 := percentiles(f.lags)
	f.log.Info("total", "vehicles", len(f.vehicles), "records", f.records, "commands_sent", f.sent.Load(),
		"commands_failed", f.failed.Load(), "lag_p50_ms", p50, "lag_p99_ms", p99,
		"rate", round(float64(f.records)/time.Since(f.start).Seconds()))
}

// percentiles returns the 50th and 99th percentiles of lags, in ms.
func percentiles(lags []time.Duration) (p50, p99 float64) {
	if len(lags) == 0 {
		return 0, 0
	}
	s := slices.Clone(lags)
	slices.Sort(s)
	ms := func(q float64) float64 { return round(float64(s[int(q*float64(len(s)-1))].Microseconds()) / 1000) }
	return ms(0.50), ms(0.99)
}

func round(x float64) float64 { return float64(int64(x*10+0.5)) / 10 }
