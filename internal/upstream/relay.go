package upstream

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iothub-dev/iothub/msg"
)

// Publisher publishes into the centre; *broker.Server implements it.
type Publisher interface {
	Publish(ctx context.Context, m *msg.Message) (int, error)
}

// Relay is the centre's side of commands down: a command for a device the
// centre has no session for is published as a CommandRequest to the
// edges (CommandTopic), and the first edge that has the device answers.
// It is the broker.TopicHandler of the replies (ReplyPrefix).
type Relay struct {
	pub   Publisher
	topic string // this relay's response topic

	mu      sync.Mutex
	waiters map[string]chan CommandReply

	relayed, answered, unclaimed, timeouts atomic.Uint64
}

// NewRelay returns a relay publishing with pub; node names its response
// topic.
func NewRelay(pub Publisher, node string) *Relay {
	return &Relay{pub: pub, topic: ReplyPrefix + sanitizeLevel(node), waiters: map[string]chan CommandReply{}}
}

// sanitizeLevel makes s usable as one topic level.
func sanitizeLevel(s string) string {
	r := strings.NewReplacer("/", "_", "+", "_", "#", "_", "\x00", "_")
	if s = r.Replace(s); s == "" {
		s = "centre"
	}
	return s
}

// HandlesTopic claims this relay's response topic.
func (r *Relay) HandlesTopic(t string) bool { return t == r.topic }

// HandleMessage hands a reply to the command waiting for it.
func (r *Relay) HandleMessage(m *msg.Message) {
	var rep CommandReply
	if json.Unmarshal(m.Payload, &rep) != nil || rep.Status == "" {
		return
	}
	r.mu.Lock()
	ch := r.waiters[string(m.CorrelationData)]
	r.mu.Unlock()
	if ch == nil {
		return
	}
	select {
	case ch <- rep:
	default: // more answers than edges that took the request: ignored
	}
}

// RelayResult is the outcome of a relayed command.
type RelayResult struct {
	CommandReply
	// Edges is how many edges took the request.
	Edges int
}

// Command relays m for clientID to the edges and waits, up to timeout,
// for the edge that has the device. found is false when no edge has a
// session for it (every edge that took the request said so, or none
// took it).
func (r *Relay) Command(ctx context.Context, clientID string, m *msg.Message, wait string, timeout time.Duration) (res RelayResult, found bool, err error) {
	req := CommandRequest{ClientID: clientID, Topic: m.Topic, Payload: m.Payload, QoS: m.QoS, Retain: m.Retain,
		ContentType: m.ContentType, Wait: wait, TimeoutMS: timeout.Milliseconds()}
	for _, u := range m.UserProperties {
		req.UserProperties = append(req.UserProperties, [2]string{u.Key, u.Value})
	}
	body, err := json.Marshal(req)
	if err != nil {
		return res, false, fmt.Errorf("relay: %w", err)
	}
	var cb [16]byte
	_, _ = rand.Read(cb[:])
	corr := hex.EncodeToString(cb[:])
	ch := make(chan CommandReply, 64)
	r.mu.Lock()
	r.waiters[corr] = ch
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.waiters, corr)
		r.mu.Unlock()
	}()
	now := time.Now()
	rm := &msg.Message{Topic: CommandTopic, Payload: body, QoS: 1, ResponseTopic: r.topic, CorrelationData: []byte(corr),
		ContentType: "application/json", ExpiresAt: now.Add(timeout), ReceivedAt: now, Origin: msg.Origin{Kind: msg.OriginAPI}}
	n, err := r.pub.Publish(ctx, rm)
	if err != nil {
		return res, false, fmt.Errorf("relay: %w", err)
	}
	res.Edges = n
	if n == 0 {
		r.unclaimed.Add(1)
		return res, false, nil
	}
	r.relayed.Add(1)
	return r.await(ctx, ch, res, timeout)
}

// await collects the edges' answers: the first that is not no_session
// wins; n no_session answers mean no edge has the device.
func (r *Relay) await(ctx context.Context, ch <-chan CommandReply, res RelayResult, timeout time.Duration) (RelayResult, bool, error) {
	t := time.NewTimer(timeout + time.Second) // the edge's own timeout answers first
	defer t.Stop()
	for seen := 0; seen < res.Edges; {
		select {
		case rep := <-ch:
			if rep.Status != StatusNoSession {
				r.answered.Add(1)
				res.CommandReply = rep
				return res, true, nil
			}
			seen++
		case <-t.C:
			r.timeouts.Add(1)
			res.Status = StatusTimeout
			return res, true, nil
		case <-ctx.Done():
			r.timeouts.Add(1)
			res.Status = StatusTimeout
			return res, true, nil
		}
	}
	r.unclaimed.Add(1)
	return res, false, nil
}

// RelayStats are the relay's counters.
type RelayStats struct {
	// Relayed counts commands sent to the edges.
	Relayed uint64 `json:"relayed"`
	// Answered counts commands an edge answered for.
	Answered uint64 `json:"answered"`
	// Unclaimed counts commands no edge had a session for.
	Unclaimed uint64 `json:"unclaimed"`
	// Timeouts counts commands with no answer in time.
	Timeouts uint64 `json:"timeouts"`
}

// Stats returns the counters.
func (r *Relay) Stats() RelayStats {
	return RelayStats{Relayed: r.relayed.Load(), Answered: r.answered.Load(), Unclaimed: r.unclaimed.Load(), Timeouts: r.timeouts.Load()}
}
