// Command phoneapp stands in for the phone app's backend of a smart
// remote: it sends commands through the hub's HTTP API at a steady rate to
// random devices, waits each time until the device acknowledged the
// command (wait: acked), and reports how long that took, p50 and p99.
//
// With several --api addresses (the nodes of a cluster) and --remote, it
// first asks the hub which node holds each device, then sends every command
// through a node that does not hold it: the command crosses the cluster to
// the device's node, and the acknowledgement crosses back.
//
// It prints JSON lines: "progress" every 5 s and a "result" at the end,
// and exits 1 unless every command was acknowledged.
//
//	export IOTHUB_API_KEY=…
//	phoneapp --api http://127.0.0.1:18083 --first 10083618790000000 --count 19000 --rate 100 --duration 30s
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	apis := flag.String("api", "http://127.0.0.1:18083", "the hub's HTTP API; several, comma-separated, for the nodes of a cluster")
	key := flag.String("key", os.Getenv("IOTHUB_API_KEY"), "API key (env IOTHUB_API_KEY)")
	first := flag.Uint64("first", 10083618790000000, "id of the first device")
	count := flag.Int("count", 19000, "devices: ids first … first+count-1")
	rate := flag.Float64("rate", 100, "commands per second")
	duration := flag.Duration("duration", 30*time.Second, "how long to send")
	remote := flag.Bool("remote", false, "send each command through a node that does not hold the device (needs several --api)")
	timeout := flag.Duration("timeout", 10*time.Second, "how long a command waits for the device's acknowledgement")
	flag.Parse()
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a := &app{apis: strings.Split(*apis, ","), key: *key, timeout: *timeout, log: log,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128, MaxConnsPerHost: 128}}}
	if *remote {
		if err := a.lookUpHolders(ctx, *first, *count); err != nil {
			fmt.Fprintln(os.Stderr, "phoneapp:", err)
			os.Exit(1)
		}
	}
	if !a.run(ctx, *first, *count, *rate, *duration) {
		os.Exit(1)
	}
}

// app sends the commands and keeps the answers.
type app struct {
	apis    []string
	key     string
	timeout time.Duration
	log     *slog.Logger
	client  *http.Client
	nodeOf  map[string]string // device → the node holding it (--remote)
	apiOf   map[string]string // node name → its API

	mu       sync.Mutex
	statuses map[string]int
	acked    []time.Duration // latencies of the acked commands
	remote   int             // commands sent through another node than the device's
}

// run sends rate commands a second for duration, each to a random device,
// on a fixed schedule (a slow answer does not delay the next command), and
// reports whether every command was acknowledged.
func (a *app) run(ctx context.Context, first uint64, count int, rate float64, duration time.Duration) bool {
	a.statuses = map[string]int{}
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	report := time.NewTicker(5 * time.Second)
	defer report.Stop()
	end := time.After(duration)
	var wg sync.WaitGroup
	sent := 0
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-end:
			break loop
		case <-report.C:
			a.progress(sent)
		case <-tick.C:
			sent++
			id := strconv.FormatUint(first+uint64(rand.IntN(count)), 10) //nolint:gosec // picking a device, not a secret
			wg.Add(1)
			go func(seq int) {
				defer wg.Done()
				a.command(ctx, id, seq)
			}(sent)
		}
	}
	wg.Wait()
	a.mu.Lock()
	defer a.mu.Unlock()
	p := percentiles(a.acked)
	a.log.Info("result", "sent", sent, "statuses", a.statuses, "remote", a.remote, "rate", rate,
		"p50_ms", p[0], "p90_ms", p[1], "p99_ms", p[2], "max_ms", p[3])
	return sent > 0 && len(a.acked) == sent
}

// command sends one command and records its answer and latency.
func (a *app) command(ctx context.Context, id string, seq int) {
	api, remote := a.pick(id)
	body, _ := json.Marshal(map[string]any{"payload": map[string]any{"action": "toggle", "seq": seq},
		"qos": 1, "wait": "acked", "timeout": a.timeout.String()})
	start := time.Now()
	var answer struct {
		Status string `json:"status"`
	}
	status := "error"
	if err := a.call(ctx, http.MethodPost, api+"/api/v1/devices/"+id+"/commands", bytes.NewReader(body), &answer); err != nil {
		a.log.Warn("command failed", "device", id, "error", err.Error())
	} else {
		status = answer.Status
	}
	took := time.Since(start)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.statuses[status]++
	if status == "acked" {
		a.acked = append(a.acked, took)
	}
	if remote {
		a.remote++
	}
}

// pick returns the API to send a command for id through, and whether it
// is another node than the device's.
func (a *app) pick(id string) (string, bool) {
	if a.nodeOf == nil {
		return a.apis[rand.IntN(len(a.apis))], false //nolint:gosec // load spreading
	}
	holder := a.nodeOf[id]
	others := make([]string, 0, len(a.apiOf))
	for node, api := range a.apiOf {
		if node != holder {
			others = append(others, api)
		}
	}
	slices.Sort(others)
	return others[rand.IntN(len(others))], holder != "" //nolint:gosec // load spreading
}

// lookUpHolders asks each API for its node's name, and the cluster for
// the node of every device (GET /api/v1/clients names it, page by page).
func (a *app) lookUpHolders(ctx context.Context, first uint64, count int) error {
	if len(a.apis) < 2 {
		return fmt.Errorf("--remote needs the APIs of several nodes")
	}
	a.apiOf, a.nodeOf = map[string]string{}, map[string]string{}
	for _, api := range a.apis {
		var node struct {
			Name string `json:"name"`
		}
		if err := a.call(ctx, http.MethodGet, api+"/api/v1/node", nil, &node); err != nil {
			return err
		}
		a.apiOf[node.Name] = api
	}
	if len(a.apiOf) < 2 {
		return fmt.Errorf("--remote needs the APIs of several nodes (these are all of node %s)", slices.Collect(maps.Keys(a.apiOf)))
	}
	prefix := commonPrefix(strconv.FormatUint(first, 10), strconv.FormatUint(first+uint64(count)-1, 10))
	cursor := ""
	for {
		var page struct {
			Data []struct {
				ClientID string `json:"client_id"`
				Node     string `json:"node"`
			} `json:"data"`
			Meta struct {
				NextCursor string `json:"next_cursor"`
			} `json:"meta"`
		}
		q := url.Values{"client_id_prefix": {prefix}, "connected": {"true"}, "limit": {"1000"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		if err := a.call(ctx, http.MethodGet, a.apis[0]+"/api/v1/clients?"+q.Encode(), nil, &page); err != nil {
			return err
		}
		for _, c := range page.Data {
			a.nodeOf[c.ClientID] = c.Node
		}
		if cursor = page.Meta.NextCursor; cursor == "" {
			break
		}
	}
	a.log.Info("holders", "devices", len(a.nodeOf), "nodes", len(a.apiOf))
	if len(a.nodeOf) == 0 {
		return fmt.Errorf("no device %s…%d is connected: start the devices first", strconv.FormatUint(first, 10), first+uint64(count)-1)
	}
	return nil
}

func commonPrefix(a, b string) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return a[:i]
}

// call sends a request with the API key and decodes the JSON answer.
func (a *app) call(ctx context.Context, method, u string, body io.Reader, out any) error {
	ctx, cancel := context.WithTimeout(ctx, a.timeout+10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.key)
	resp, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)
	}
	return nil
}

func (a *app) progress(sent int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := percentiles(a.acked)
	a.log.Info("progress", "sent", sent, "acked", len(a.acked), "p50_ms", p[0], "p99_ms", p[2])
}

// percentiles returns p50, p90, p99 and the maximum of d, in ms.
func percentiles(d []time.Duration) [4]float64 {
	if len(d) == 0 {
		return [4]float64{}
	}
	s := slices.Clone(d)
	slices.Sort(s)
	ms := func(q float64) float64 { return float64(s[int(q*float64(len(s)-1))].Microseconds()) / 1000 }
	return [4]float64{ms(0.50), ms(0.90), ms(0.99), ms(1)}
}
