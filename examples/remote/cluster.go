package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/iothub-dev/iothub/examples/internal/run"
)

// startCluster starts three nodes that list each other as seeds, waits
// until the cluster has formed, and puts HAProxy in front of their
// WebSocket listeners: one HAProxy per simulator, because HAProxy holds
// two files per connection and one process may open 20,000 on this machine.
func (d *demo) startCluster(ctx context.Context, sims int) error {
	haproxy, err := exec.LookPath("haproxy")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/haproxy"); serr != nil {
			return fmt.Errorf("--nodes 3 needs HAProxy (apt-get install haproxy): %w", err)
		}
		haproxy = "/usr/sbin/haproxy"
	}
	seeds := make([]string, 3)
	for i := range seeds {
		if seeds[i], err = run.FreeAddr(); err != nil {
			return err
		}
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	key := "ihk_demo_" + hex.EncodeToString(b[:]) // one API key for the three nodes
	d.hubs = make([]*run.Hub, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("n%d", i+1)
			d.hubs[i], errs[i] = d.r.StartHub(name, run.HubOptions{Key: key, Args: []string{"--node-name", name,
				"--cluster-addr", seeds[i], "--cluster-seeds", strings.Join(seeds, ",")}})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	fmt.Fprintf(d.out, "cluster: nodes n1, n2, n3 (APIs http://%s, http://%s, http://%s)\nlogs in %s (removed at the end unless --keep)\n",
		d.hubs[0].API, d.hubs[1].API, d.hubs[2].API, d.r.Dir)
	d.Step("Three hubs form a cluster; HAProxy in front of their WebSocket listeners")
	if !d.Until(ctx, "every node sees three nodes up and its replicated state ready", d.formed(ctx)) {
		return fmt.Errorf("the cluster did not form")
	}
	for i := range sims {
		lb, err := d.startHAProxy(haproxy, i, min(d.o.perProcess, d.o.devices-i*d.o.perProcess))
		if err != nil {
			return err
		}
		d.lbs = append(d.lbs, lb)
		fmt.Fprintf(d.out, "  HAProxy %d at %s (round robin over n1, n2, n3)\n", i, lb)
	}
	return nil
}

// formed reports whether every node sees the three nodes up, JetStream
// healthy and its replicated state open (GET /api/v1/cluster).
func (d *demo) formed(ctx context.Context) func() bool {
	return func() bool {
		for _, h := range d.hubs {
			var st struct {
				Nodes []struct {
					State string `json:"state"`
				} `json:"nodes"`
				JetStream struct {
					Healthy bool `json:"healthy"`
				} `json:"jetstream"`
				StateReady bool `json:"state_ready"`
			}
			if code, err := h.Call(ctx, http.MethodGet, "/api/v1/cluster", nil, &st); err != nil || code != http.StatusOK {
				return false
			}
			up := 0
			for _, n := range st.Nodes {
				if n.State == "up" {
					up++
				}
			}
			if up != 3 || !st.JetStream.Healthy || !st.StateReady {
				return false
			}
		}
		return true
	}
}

// startHAProxy runs HAProxy i (TCP mode, round robin) for conns devices
// on 127.0.0.<i+1> and returns its address.
func (d *demo) startHAProxy(haproxy string, i, conns int) (string, error) {
	addr, err := run.FreeAddrOn(fmt.Sprintf("127.0.0.%d", i+1))
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "global\n  maxconn %d\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 1h\n  timeout server 1h\n", conns+100)
	fmt.Fprintf(&b, "frontend ws\n  bind %s\n  default_backend hubs\nbackend hubs\n  balance roundrobin\n", addr)
	for _, h := range d.hubs {
		fmt.Fprintf(&b, "  server %s %s check inter 1s\n", h.Name, h.WS)
	}
	cfg := filepath.Join(d.r.Dir, fmt.Sprintf("haproxy-%d.cfg", i))
	if err := os.WriteFile(cfg, []byte(b.String()), 0o600); err != nil {
		return "", fmt.Errorf("haproxy config: %w", err)
	}
	p, err := d.r.Start(fmt.Sprintf("haproxy-%d", i), haproxy, []string{"-db", "-f", cfg})
	if err != nil {
		return "", err
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		select {
		case <-p.Done():
			return "", fmt.Errorf("haproxy exited: %w (log: %s)", p.Err(), p.Log)
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			_ = c.Close()
			return addr, nil
		}
	}
	return "", fmt.Errorf("haproxy not listening on %s (log: %s)", addr, p.Log)
}
