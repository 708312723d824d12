package run

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Hub is a running `iothub serve`.
type Hub struct {
	*Proc
	// MQTT, WS and API are its listeners' addresses (host:port); Key is
	// its HTTP API key.
	MQTT, WS, API, Key string
	// Data is its data directory.
	Data string
}

// HubOptions are what StartHub needs besides a name.
type HubOptions struct {
	// Config is the YAML of the config file ("": none).
	Config string
	// Args are more command-line arguments (cluster flags, say).
	Args []string
	// Key is the API key (""; a fresh random one).
	Key string
	// MQTT, WS, API are the addresses to listen on ("": free ports).
	MQTT, WS, API string
}

// StartKafkaHub starts the hub "iothub" with config (StartHub), the run's
// Kafka (Open) standing for localhost:9092 in it, and tells out where
// Kafka, the hub and the logs are.
func (r *Runner) StartKafkaHub(config string, out io.Writer) (*Hub, error) {
	hub, err := r.StartHub("iothub", HubOptions{Config: strings.ReplaceAll(config, "localhost:9092", r.Kafka.Addr)})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "Kafka %s, hub MQTT %s, API http://%s\nlogs in %s (removed at the end unless --keep)\n", r.Kafka.Addr, hub.MQTT, hub.API, r.Dir)
	return hub, nil
}

// StartHub writes the config, starts the hub on loopback ports and waits
// until it is ready (GET /ready), at most a minute.
func (r *Runner) StartHub(name string, o HubOptions) (*Hub, error) {
	h := &Hub{MQTT: o.MQTT, WS: o.WS, API: o.API, Key: o.Key, Data: filepath.Join(r.Dir, name+"-data")}
	for _, a := range []*string{&h.MQTT, &h.WS, &h.API} {
		if *a == "" {
			var err error
			if *a, err = FreeAddr(); err != nil {
				return nil, err
			}
		}
	}
	if h.Key == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		h.Key = "ihk_demo_" + hex.EncodeToString(b[:])
	}
	args := []string{"serve", "--mqtt-addr", h.MQTT, "--ws-addr", h.WS, "--api-addr", h.API, "--data-dir", h.Data}
	if o.Config != "" {
		cfg := filepath.Join(r.Dir, name+".yaml")
		if err := os.WriteFile(cfg, []byte(o.Config), 0o600); err != nil {
			return nil, fmt.Errorf("run: %w", err)
		}
		args = append(args, "--config", cfg)
	}
	p, err := r.Start(name, "iothub", append(args, o.Args...), "IOTHUB_API_KEY="+h.Key)
	if err != nil {
		return nil, err
	}
	h.Proc = p
	return h, h.waitReady(time.Minute)
}

func (h *Hub) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-h.Done():
			return fmt.Errorf("run: %s exited before it was ready (%w); its log: %s", h.Name, h.Err(), h.Log)
		default:
		}
		resp, err := http.Get("http://" + h.API + "/ready")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("run: %s not ready within %s; its log: %s", h.Name, limit, h.Log)
}

// Call sends a request to the hub's HTTP API with its key: body (if not
// nil) as JSON, the answer decoded into out (if not nil). It returns the
// HTTP status.
func (h *Hub) Call(ctx context.Context, method, path string, body, out any) (int, error) {
	return CallAPI(ctx, "http://"+h.API, h.Key, method, path, body, out)
}

// CallAPI is Hub.Call against any hub's API at base.
func CallAPI(ctx context.Context, base, key, method, path string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, fmt.Errorf("run: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return 0, fmt.Errorf("run: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("run: %s %s: %w", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, fmt.Errorf("run: %s %s: %w", method, path, err)
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("run: %s %s: %w: %s", method, path, err, b)
		}
	}
	return resp.StatusCode, nil
}
