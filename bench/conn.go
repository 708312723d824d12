package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iothub-dev/iothub/mqtt/packet"
)

// ConnOptions configures `iothub bench conn`.
type ConnOptions struct {
	// Addr is the broker's host:port.
	Addr string
	// Count is the number of connections to open.
	Count int
	// Rate is the connection attempts per second (0: as fast as possible).
	Rate int
	// Hold is how long to keep the connections open once all are up.
	Hold time.Duration
	// KeepAlive is sent in CONNECT; the clients never ping, so it must be
	// longer than Hold (0: no keep alive).
	KeepAlive time.Duration
	// SourceAddrs are local addresses to spread connections over, to pass
	// the 64k ports of one source address (e.g. 127.0.0.2-127.0.0.50).
	SourceAddrs []net.IP
	// ClientPrefix prefixes the client ids (prefix + index).
	ClientPrefix string
	// Version is the MQTT version to connect with.
	Version packet.Version
	// Concurrency bounds the connection attempts in flight.
	Concurrency int
	// Progress receives a line every second while connecting (may be nil).
	Progress io.Writer
	// TLS makes the connections use TLS: the handshake is part of each
	// connection's cost.
	TLS TLSOptions
}

// ConnResult is the outcome of a connection benchmark.
type ConnResult struct {
	Connected   int           `json:"connected"`
	Failed      int           `json:"failed"`
	Elapsed     time.Duration `json:"elapsed_ns"`
	RatePerSec  float64       `json:"connect_rate_per_sec"`
	FirstErrors []string      `json:"first_errors,omitempty"`
}

// RunConn opens Count connections at Rate, holds them for Hold, then closes
// them. It returns early when ctx is cancelled.
func RunConn(ctx context.Context, o ConnOptions) (ConnResult, error) {
	if o.Count <= 0 {
		return ConnResult{}, fmt.Errorf("bench conn: count %d: must be positive", o.Count)
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 64
	}
	if o.Version == 0 {
		o.Version = packet.V311
	}
	d, err := newDialer(o.Addr, o.TLS)
	if err != nil {
		return ConnResult{}, fmt.Errorf("bench conn: %w", err)
	}
	var (
		mu     sync.Mutex
		conns  = make([]net.Conn, 0, o.Count)
		errs   []string
		failed atomic.Int64
		done   atomic.Int64
	)
	start := time.Now()
	stopProgress := progress(o.Progress, "conn", &done, &failed, start)
	sem := make(chan struct{}, o.Concurrency)
	var wg sync.WaitGroup
	tick := pacer(o.Rate)
	for i := 0; i < o.Count && ctx.Err() == nil; i++ {
		tick()
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			c, err := dialMQTT(ctx, d, o, i)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed.Add(1)
				if len(errs) < 5 {
					errs = append(errs, err.Error())
				}
				return
			}
			done.Add(1)
			conns = append(conns, c)
		}(i)
	}
	wg.Wait()
	elapsed := time.Since(start)
	stopProgress()
	res := ConnResult{Connected: int(done.Load()), Failed: int(failed.Load()), Elapsed: elapsed, FirstErrors: errs}
	res.RatePerSec = float64(res.Connected) / elapsed.Seconds()
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, "conn: %d connected, %d failed; holding for %s\n", res.Connected, res.Failed, o.Hold)
	}
	select {
	case <-ctx.Done():
	case <-time.After(o.Hold):
	}
	for _, c := range conns {
		_ = c.Close()
	}
	return res, nil
}

// dialMQTT opens connection i through d and completes CONNECT/CONNACK.
func dialMQTT(ctx context.Context, d *dialer, o ConnOptions, i int) (net.Conn, error) {
	var local net.Addr // an untyped nil: no source address
	if len(o.SourceAddrs) > 0 {
		local = &net.TCPAddr{IP: o.SourceAddrs[i%len(o.SourceAddrs)]}
	}
	c, err := d.dial(ctx, local)
	if err != nil {
		return nil, err
	}
	cp := packet.Connect{ProtocolName: "MQTT", Version: o.Version, CleanStart: true,
		KeepAlive: uint16(o.KeepAlive / time.Second), ClientID: o.ClientPrefix + strconv.Itoa(i)}
	buf, err := cp.AppendTo(nil, o.Version)
	if err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("encode connect: %w", err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(buf); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("write connect: %w", err)
	}
	p, err := packet.ReadPacket(c, o.Version, 1<<16)
	if err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("read connack: %w", err)
	}
	ack, ok := p.(*packet.Connack)
	if !ok || ack.ReasonCode != 0 {
		_ = c.Close()
		return nil, fmt.Errorf("connect refused: %v", p)
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// ParseAddrRange parses "127.0.0.2-127.0.0.50" (or one address) into the
// list of addresses, at most 65536.
func ParseAddrRange(s string) ([]net.IP, error) {
	from, to, isRange := strings.Cut(s, "-")
	a := net.ParseIP(strings.TrimSpace(from)).To4()
	if a == nil {
		return nil, fmt.Errorf("address range %q: %q is not an IPv4 address", s, from)
	}
	if !isRange {
		return []net.IP{a}, nil
	}
	b := net.ParseIP(strings.TrimSpace(to)).To4()
	if b == nil {
		return nil, fmt.Errorf("address range %q: %q is not an IPv4 address", s, to)
	}
	lo, hi := ipUint(a), ipUint(b)
	if hi < lo || hi-lo >= 65536 {
		return nil, fmt.Errorf("address range %q: must be ascending and at most 65536 addresses", s)
	}
	out := make([]net.IP, 0, hi-lo+1)
	for v := lo; v <= hi; v++ {
		out = append(out, net.IPv4(byte(v>>24), byte(v>>16), byte(v>>8), byte(v)).To4())
	}
	return out, nil
}

func ipUint(ip net.IP) uint32 {
	return uint32(ip[0])<<24 | uint32(ip[1])<<16 | uint32(ip[2])<<8 | uint32(ip[3])
}

// pacer returns a function that sleeps to keep calls at rate per second
// (no-op for rate 0).
func pacer(rate int) func() {
	if rate <= 0 {
		return func() {}
	}
	interval := time.Second / time.Duration(rate)
	next := time.Now()
	return func() {
		next = next.Add(interval)
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
	}
}

// progress prints a line per second (totals, rate, errors) until the
// returned stop is called.
func progress(w io.Writer, what string, done, failed *atomic.Int64, start time.Time) (stop func()) {
	last := int64(0)
	return ticker(w, start, func(elapsed time.Duration) string {
		d := done.Load()
		line := fmt.Sprintf("%s: %6.0fs  total %d  rate %d/s  errors %d", what, elapsed.Seconds(), d, d-last, failed.Load())
		last = d
		return line
	})
}
