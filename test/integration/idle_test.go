package integration

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// metric reads one sample from the hub's /metrics: name, with its labels
// for a labelled one (iothub_x{a="b"}). The connection is not kept alive,
// so it leaves none open behind.
func metric(t *testing.T, h *hub, name string) float64 {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}
	resp, err := c.Get("http://" + h.api + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			require.NoError(t, err)
			return f
		}
	}
	t.Fatalf("no sample %s on /metrics", name)
	return 0
}

func awaitMetric(t *testing.T, h *hub, name string, want float64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := metric(t, h, name)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v, want %v", name, got, want)
		}
		time.Sleep(50 * time.Millisecond) // polling an HTTP gauge: no event to await
	}
}

// Idle Mosquitto clients (3.1.1 and 5) are parked by the hub, hold no
// goroutine, and still get their messages, ping and stay connected.
func TestIdle_mosquittoClientsParkAndKeepWorking(t *testing.T) {
	t.Parallel()
	h := startHub(t, []string{"IOTHUB_MQTT_PARK_IDLE_AFTER=100ms"})
	const n = 10
	subs := make([]*sub, n)
	for i := range subs {
		args := []string{"-t", "idle/#", "-q", "1", "-i", fmt.Sprintf("idle-%d", i), "-V", "mqttv311"}
		if i%2 == 1 {
			args[len(args)-1] = "5"
		}
		if i == 0 {
			args = append(args, "-k", "5") // pings every 5 s (mosquitto's least) while parked
		}
		subs[i] = startSub(t, h, args...)
		subs[i].waitLine(t, "SUBACK")
	}
	awaitMetric(t, h, "iothub_connections_parked", n)

	pub(t, h, "-t", "idle/door", "-q", "1", "-m", "unlock", "-V", "5")
	for i, s := range subs {
		line := s.waitLine(t, "MSG idle/")
		require.Equal(t, "MSG idle/door unlock", line, "subscriber %d", i)
	}
	// Keep alive 5: the parked client pings and the hub answers from a
	// fresh read loop, which parks again; every connection is still open.
	subs[0].waitLine(t, "PINGRESP")
	awaitMetric(t, h, "iothub_connections_parked", n)
}
