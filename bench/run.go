package bench

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iothub-dev/iothub/mqtt/packet"
)

// connectAll opens n clients named by id, at most o.ConnectConcurrency at
// a time, starts their read loops with onMessage (may be nil) and returns
// them. On the first failure it closes what it opened and returns the error.
func connectAll(ctx context.Context, o *ClientOptions, n int, id func(i int) string, onMessage func(i int) func(*packet.Publish)) ([]*client, error) {
	d, err := newDialer(o.Addr, o.TLS)
	if err != nil {
		return nil, err
	}
	clients := make([]*client, n)
	sem := make(chan struct{}, o.ConnectConcurrency)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for i := 0; i < n && ctx.Err() == nil; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			c, err := dialClient(ctx, d, o, id(i), nil)
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("client %s: %w", id(i), err)
				}
				mu.Unlock()
				return
			}
			if onMessage != nil {
				c.onMessage = onMessage(i)
			}
			c.start(o.KeepAlive)
			clients[i] = c
		}(i)
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		closeAll(clients)
		return nil, firstErr
	}
	return clients, nil
}

// closeAll disconnects every non-nil client.
func closeAll(clients []*client) {
	var wg sync.WaitGroup
	for _, c := range clients {
		if c != nil {
			wg.Add(1)
			go func() { defer wg.Done(); c.close() }()
		}
	}
	wg.Wait()
}

// runEach runs fn once per client, each in its own goroutine, and waits
// for them all. An error returned while ctx is still live counts in
// failed (read by the progress line while they run); the first such
// error's text is returned ("" when none failed).
func runEach(ctx context.Context, clients []*client, failed *atomic.Uint64, fn func(i int, c *client) error) (firstErr string) {
	var first atomic.Pointer[string]
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(i, c); err != nil && ctx.Err() == nil {
				failed.Add(1)
				msg := err.Error()
				first.CompareAndSwap(nil, &msg)
			}
		}()
	}
	wg.Wait()
	if p := first.Load(); p != nil {
		return *p
	}
	return ""
}

// expand fills a topic or client-id template: %i is the client index, %c
// the client id, %% a percent sign.
func expand(tmpl string, i int, clientID string) string {
	if !strings.Contains(tmpl, "%") {
		return tmpl
	}
	r := strings.NewReplacer("%i", strconv.Itoa(i), "%c", clientID, "%%", "%")
	return r.Replace(tmpl)
}

// ticker calls line every second and prints its result to w until stop is
// called; line gets the time since start.
func ticker(w io.Writer, start time.Time, line func(elapsed time.Duration) string) (stop func()) {
	if w == nil {
		return func() {}
	}
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case now := <-t.C:
				fmt.Fprintln(w, line(now.Sub(start)))
			}
		}
	}()
	return func() { close(quit); wg.Wait() }
}

// deadline returns the context bounded by d (when positive).
func deadline(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d > 0 {
		return context.WithTimeout(ctx, d)
	}
	return context.WithCancel(ctx)
}
