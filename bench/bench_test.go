package bench

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/testutil"
)

func TestExpand(t *testing.T) {
	tests := []struct{ tmpl, want string }{
		{"bench/%i", "bench/7"},
		{"devices/%c/state", "devices/dev-7/state"},
		{"plain/topic", "plain/topic"},
		{"100%%/%i", "100%/7"},
	}
	for _, tc := range tests {
		t.Run(tc.tmpl, func(t *testing.T) {
			require.Equal(t, tc.want, expand(tc.tmpl, 7, "dev-7"))
		})
	}
}

func TestFillTemplate(t *testing.T) {
	tests := []struct{ tmpl, want string }{
		{`{"id":"%c","i":%i,"n":%n}`, `{"id":"dev-3","i":3,"n":42}`},
		{"50%% off %x", "50% off %x"},
		{"trailing %", "trailing %"},
		{"", ""},
	}
	for _, tc := range tests {
		t.Run(tc.tmpl, func(t *testing.T) {
			require.Equal(t, tc.want, string(fillTemplate(nil, tc.tmpl, 3, "dev-3", 42)))
		})
	}
}

func FuzzPayloadTemplate(f *testing.F) {
	for _, s := range []string{`{"id":"%c","t":%t,"r":%r}`, "%", "%%%", "%i%n%c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tmpl string) {
		out := fillTemplate(nil, tmpl, 1, "c", 2)
		if len(tmpl) > 0 && len(out) == 0 {
			t.Fatalf("template %q produced nothing", tmpl)
		}
		_, _ = stampOf([]byte(tmpl))
	})
}

func TestStamp_roundTrip(t *testing.T) {
	p := make([]byte, 64)
	now := time.Now()
	stamp(p, now)
	got, ok := stampOf(p)
	require.True(t, ok)
	require.Equal(t, now.UnixNano(), got.UnixNano())
	_, ok = stampOf([]byte("IOTB123"))
	require.False(t, ok, "too short")
	_, ok = stampOf(make([]byte, 64))
	require.False(t, ok, "no magic")
}

func TestHistogram_quantiles(t *testing.T) {
	var h histogram
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Millisecond)
	}
	s := h.summary()
	require.Equal(t, uint64(1000), s.Count)
	require.InEpsilon(t, 500, s.P50, 0.07)
	require.InEpsilon(t, 990, s.P99, 0.07)
	require.InDelta(t, 1000, s.Max, 0.001)
	for i := range 959 { // the last bucket of an int64 µs value
		require.LessOrEqual(t, lowerBound(i), lowerBound(i+1), "bucket bounds ascend")
		require.Equal(t, i, bucketOf(lowerBound(i)), "bucket %d", i)
	}
}

func TestRunPubSub_againstBroker(t *testing.T) {
	_, addr := testutil.StartBroker(t, nil)
	ctx := context.Background()
	for _, qos := range []byte{0, 1, 2} {
		t.Run("qos"+string('0'+qos), func(t *testing.T) {
			subDone := make(chan SubResult, 1)
			ready := make(chan struct{})
			go func() {
				res, err := RunSub(ctx, SubOptions{ClientOptions: ClientOptions{Addr: addr, ClientPrefix: "s" + string('0'+qos) + "-"},
					Clients: 2, Filter: "t/#", QoS: qos, Count: 2 * 30, Duration: time.Minute, Idle: 300 * time.Millisecond,
					Progress: readyWriter(ready)})
				require.NoError(t, err)
				subDone <- res
			}()
			<-ready
			res, err := RunPub(ctx, PubOptions{ClientOptions: ClientOptions{Addr: addr, ClientPrefix: "p" + string('0'+qos) + "-"},
				Clients: 3, Count: 10, Duration: time.Minute, QoS: qos, Topic: "t/%i", Size: 32})
			require.NoError(t, err)
			require.Equal(t, uint64(30), res.Published)
			require.Zero(t, res.Errors)
			sub := <-subDone
			require.Equal(t, uint64(60), sub.Received)
			require.Equal(t, uint64(60), sub.Latency.Count, "every payload carried its send time")
			out, err := json.Marshal(sub)
			require.NoError(t, err)
			require.Contains(t, string(out), `"p99_ms"`)
		})
	}
}

// readyWriter closes ready on the first progress line ("subscribed").
func readyWriter(ready chan struct{}) *onceWriter { return &onceWriter{ready: ready} }

type onceWriter struct {
	ready chan struct{}
	done  bool
}

func (w *onceWriter) Write(p []byte) (int, error) {
	if !w.done {
		w.done = true
		close(w.ready)
	}
	return len(p), nil
}

func TestRunSimulate_scenarios(t *testing.T) {
	s, addr := testutil.StartBroker(t, nil)
	for _, sc := range Scenarios {
		t.Run(sc, func(t *testing.T) {
			res, err := RunSimulate(context.Background(), SimOptions{ClientOptions: ClientOptions{Addr: addr},
				Scenario: sc, Devices: 3, Interval: 50 * time.Millisecond, Duration: 500 * time.Millisecond})
			require.NoError(t, err)
			require.Zero(t, res.Errors, res.FirstError)
			require.Positive(t, res.Published)
		})
	}
	require.Positive(t, s.Stats().MessagesIn)
}

// TestRunSimulate_first: a simulator given First takes the device ids
// from there, so that several can split one fleet.
func TestRunSimulate_first(t *testing.T) {
	s, addr := testutil.StartBroker(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := RunSimulate(ctx, SimOptions{ClientOptions: ClientOptions{Addr: addr}, Scenario: "doorlock",
			Devices: 2, First: 5, Interval: time.Hour, Duration: time.Minute})
		done <- err
	}()
	subscribed := func(id string) bool {
		ci, ok := s.Client(id)
		return ok && ci.SubscriptionCount == 1
	}
	require.Eventually(t, func() bool { return subscribed("10083618790000005") && subscribed("10083618790000006") },
		30*time.Second, 20*time.Millisecond)
	_, ok := s.Client("10083618790000000")
	require.False(t, ok, "no device below First")
	cancel()
	require.NoError(t, <-done)

	_, err := RunSimulate(context.Background(), SimOptions{Scenario: "doorlock", Devices: 1, First: -1, Duration: time.Second})
	require.Error(t, err)
}

func TestScenarioPayloads_matchSamples(t *testing.T) {
	for _, sc := range Scenarios {
		t.Run(sc, func(t *testing.T) {
			spec, sample, err := loadScenario(sc)
			require.NoError(t, err)
			d := &device{id: spec.id(1), rng: nil, state: cloneMap(sample)}
			d.rng = newRand(1)
			b, err := spec.payload(d)
			require.NoError(t, err)
			var got map[string]any
			require.NoError(t, json.Unmarshal(b, &got))
			for k := range sample {
				require.Contains(t, got, k, "field of the scenario sample")
			}
		})
	}
}

func TestValidation_bounded(t *testing.T) {
	ctx := context.Background()
	_, err := RunPub(ctx, PubOptions{Clients: 1, Topic: "t"})
	require.ErrorIs(t, err, ErrUnbounded)
	_, err = RunSub(ctx, SubOptions{Clients: 1, Filter: "t"})
	require.ErrorIs(t, err, ErrUnbounded)
	_, err = RunSimulate(ctx, SimOptions{Scenario: "doorlock", Devices: 1})
	require.ErrorIs(t, err, ErrUnbounded)
	_, err = RunSimulate(ctx, SimOptions{Scenario: "toaster", Devices: 1, Duration: time.Second})
	require.Error(t, err)
}
