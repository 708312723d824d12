package integration

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ackedLoad is publishers that send QoS 1 messages one after the other
// until halted, each until it is acknowledged (publishUntilAcked: a try
// without a PUBACK reconnects through the load balancer and sends it
// again), and the record of what was acknowledged.
type ackedLoad struct {
	acked      sync.Map // payload → true
	sent       atomic.Int64
	reconnects atomic.Int64
	stop       chan struct{}
	stopOnce   sync.Once
	wg         sync.WaitGroup
}

// startAckedLoad starts one publisher per address in addrs, with client
// id prefix+index, publishing payloads "id/n" on topic topicPrefix+id;
// lb is the load balancer a publisher reconnects through. Every message
// must be acknowledged within 150 s. The test's cleanup halts the load.
func startAckedLoad(t *testing.T, lb string, addrs []string, prefix, topicPrefix string) *ackedLoad {
	t.Helper()
	l := &ackedLoad{stop: make(chan struct{})}
	t.Cleanup(l.halt) // a failed wait ends the publishers too
	giveUp := time.Now().Add(150 * time.Second)
	for p, addr := range addrs {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			id := prefix + strconv.Itoa(p)
			c := pahoClient(t, addr, id, true, nil)
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				payload := id + "/" + strconv.Itoa(i)
				if !publishUntilAcked(t, &c, lb, id, topicPrefix+id, payload, 20*time.Second, giveUp, &l.reconnects, l.stop) {
					return
				}
				l.acked.Store(payload, true)
				l.sent.Add(1)
			}
		}()
	}
	return l
}

// halt stops the publishers and waits for them.
func (l *ackedLoad) halt() {
	l.stopOnce.Do(func() { close(l.stop) })
	l.wg.Wait()
}

// progress waits until the publishers got another n PUBACKs (90 s at most).
func (l *ackedLoad) progress(t *testing.T, n int64, what string) {
	t.Helper()
	target := l.sent.Load() + n
	deadline := time.Now().Add(90 * time.Second)
	for l.sent.Load() < target {
		if time.Now().After(deadline) {
			t.Fatalf("no %d acknowledged messages %s within 90s", n, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// total counts the acknowledged messages.
func (l *ackedLoad) total() int {
	n := 0
	l.acked.Range(func(_, _ any) bool { n++; return true })
	return n
}
