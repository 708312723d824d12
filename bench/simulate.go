package bench

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/iothub-dev/iothub/mqtt/packet"
)

// The sample payloads of the reference scenarios (copies of
// shared/scenarios/*): the simulated devices publish messages of these
// shapes with varying values.
//
//go:embed scenarios/*.json
var scenarioFiles embed.FS

// Scenarios lists the names `bench simulate` accepts.
var Scenarios = []string{"doorlock", "vehicles"}

// SimOptions configures `iothub bench simulate`: Devices devices of a
// scenario, each publishing every Interval and subscribed to its command
// topic, for Duration.
type SimOptions struct {
	ClientOptions
	// Scenario is doorlock or vehicles.
	Scenario string
	// Devices is the number of simulated devices.
	Devices int
	// First is the index of the first device: simulators that split a
	// fleet between them (each process is bound by its open-files limit)
	// take ranges that do not overlap.
	First int
	// Interval is the time between two messages of one device (0: the
	// scenario's: 60s for door locks, 1s for vehicles).
	Interval time.Duration
	// Duration bounds the run; it must be positive.
	Duration time.Duration
	// Progress receives a line every second (may be nil).
	Progress io.Writer
}

// SimResult is the outcome of a simulation.
type SimResult struct {
	Scenario   string        `json:"scenario"`
	Devices    int           `json:"devices"`
	Published  uint64        `json:"published"`
	Commands   uint64        `json:"commands_received"`
	Errors     uint64        `json:"errors"`
	Elapsed    time.Duration `json:"elapsed_ns"`
	RatePerSec float64       `json:"rate_per_sec"`
	FirstError string        `json:"first_error,omitempty"`
}

// scenario describes one kind of device.
type scenario struct {
	interval time.Duration
	qos      byte
	id       func(i int) string
	topic    func(id string) string
	command  func(id string) string
	payload  func(dev *device) ([]byte, error)
}

// device is the changing state of one simulated device.
type device struct {
	id    string
	rng   *rand.Rand
	seq   int
	state map[string]any // the sample, mutated between messages
}

func loadScenario(name string) (scenario, map[string]any, error) {
	var sc scenario
	var file string
	switch name {
	case "doorlock":
		file = "scenarios/doorlock_state.json"
		sc = scenario{interval: time.Minute, qos: 1,
			id:      func(i int) string { return fmt.Sprintf("1008361879%07d", i) },
			topic:   func(id string) string { return "devices/" + id + "/state" },
			command: func(id string) string { return "devices/" + id + "/command" },
			payload: doorlockPayload}
	case "vehicles":
		file = "scenarios/vehicles_telemetry.json"
		sc = scenario{interval: time.Second, qos: 0,
			id:      func(i int) string { return fmt.Sprintf("vehicle-%06d", i) },
			topic:   func(id string) string { return "mqttx/simulate/tesla/" + id },
			command: func(id string) string { return "vehicles/" + id + "/command" },
			payload: vehiclePayload}
	default:
		return sc, nil, fmt.Errorf("bench simulate: unknown scenario %q (want doorlock or vehicles)", name)
	}
	sample, err := readSample(file)
	return sc, sample, err
}

func readSample(file string) (map[string]any, error) {
	b, err := scenarioFiles.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("bench: sample %s: %w", file, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("bench: sample %s: %w", file, err)
	}
	return m, nil
}

// doorlockPayload is the lock's state: lock or unlock, battery slowly
// draining, a fresh process id per action.
func doorlockPayload(d *device) ([]byte, error) {
	locked := d.seq%2 == 0
	d.state["action"] = map[bool]string{true: "lock", false: "unlock"}[locked]
	d.state["lock_state"] = map[bool]int{true: 1, false: 0}[locked]
	d.state["battery"] = float64(int(1000-float64(d.seq%900)*0.1-d.rng.Float64()*5)) / 10
	d.state["process_id"] = fmt.Sprintf("%016d", d.rng.Int64N(1e16))
	d.state["client_id"] = d.id
	return json.Marshal(d.state)
}

// vehiclePayload is one second of driving: speed, position and battery
// vary, timestamps are now.
func vehiclePayload(d *device) ([]byte, error) {
	now := time.Now().UnixMilli()
	s := d.state
	s["vin"] = fmt.Sprintf("EDF226K7LZ%07d", d.rng.IntN(1e7))
	s["speed"] = d.rng.IntN(130)
	s["odometer"] = 68234 + d.seq/40
	s["soc"] = 100 - d.seq%100
	s["heading"] = d.rng.IntN(360)
	s["power"] = d.rng.IntN(150)
	s["range"] = 400 - d.seq%400
	s["gps_as_of"], s["timestamp"] = now, now
	s["location"] = map[string]string{
		"latitude":  fmt.Sprintf("%.4f", -90+d.rng.Float64()*180),
		"longitude": fmt.Sprintf("%.4f", -180+d.rng.Float64()*360),
	}
	return json.Marshal(s)
}

// RunSimulate connects the devices, subscribes each to its command topic,
// and has each publish its scenario's messages every Interval.
func RunSimulate(ctx context.Context, o SimOptions) (SimResult, error) {
	o.defaults()
	sc, sample, err := loadScenario(o.Scenario)
	if err != nil {
		return SimResult{}, err
	}
	if o.Devices <= 0 {
		return SimResult{}, fmt.Errorf("bench simulate: devices %d: must be positive", o.Devices)
	}
	if o.Duration <= 0 {
		return SimResult{}, ErrUnbounded
	}
	if o.Interval <= 0 {
		o.Interval = sc.interval
	}
	var commands, sent, failed atomic.Uint64
	countCommand := func(int) func(*packet.Publish) {
		return func(*packet.Publish) { commands.Add(1) }
	}
	if o.First < 0 {
		return SimResult{}, fmt.Errorf("bench simulate: first %d: must not be negative", o.First)
	}
	id := func(i int) string { return sc.id(o.First + i) }
	clients, err := connectAll(ctx, &o.ClientOptions, o.Devices, id, countCommand)
	if err != nil {
		return SimResult{}, fmt.Errorf("bench simulate: %w", err)
	}
	defer closeAll(clients)
	for _, c := range clients {
		if err := c.subscribe(ctx, sc.command(c.id), 1); err != nil {
			return SimResult{}, fmt.Errorf("bench simulate: %w", err)
		}
	}
	runCtx, cancel := deadline(ctx, o.Duration)
	defer cancel()
	start := time.Now()
	stop := ticker(o.Progress, start, func(el time.Duration) string {
		return fmt.Sprintf("simulate %s: %4.0fs  devices %d  published %d  commands %d  errors %d",
			o.Scenario, el.Seconds(), o.Devices, sent.Load(), commands.Load(), failed.Load())
	})
	firstErr := runEach(runCtx, clients, &failed, func(i int, c *client) error {
		dev := &device{id: c.id, rng: newRand(uint64(i) ^ uint64(start.UnixNano())), state: cloneMap(sample)}
		return runDevice(runCtx, &o, sc, dev, c, &sent)
	})
	elapsed := time.Since(start)
	stop()
	res := SimResult{Scenario: o.Scenario, Devices: o.Devices, Published: sent.Load(), Commands: commands.Load(),
		Errors: failed.Load(), Elapsed: elapsed, RatePerSec: float64(sent.Load()) / elapsed.Seconds(), FirstError: firstErr}
	return res, nil
}

// runDevice publishes dev's messages every interval, the first after a
// random part of it so that devices do not publish in step.
func runDevice(ctx context.Context, o *SimOptions, sc scenario, dev *device, c *client, sent *atomic.Uint64) error {
	t := time.NewTimer(time.Duration(dev.rng.Int64N(int64(o.Interval))))
	defer t.Stop()
	topic := sc.topic(dev.id)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		payload, err := sc.payload(dev)
		if err != nil {
			return fmt.Errorf("payload: %w", err)
		}
		if err := c.publish(ctx, topic, payload, sc.qos, false, true); err != nil {
			return err
		}
		sent.Add(1)
		dev.seq++
		t.Reset(o.Interval)
	}
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x10d)) } //nolint:gosec // simulated telemetry, reproducible by seed

func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
