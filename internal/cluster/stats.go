package cluster

import (
	"sync"
	"sync/atomic"
	"time"
)

// stats are the node's counters (Stats takes a snapshot).
type stats struct {
	forwarded       atomic.Uint64
	forwardedBytes  atomic.Uint64
	received        atomic.Uint64
	duplicates      atomic.Uint64
	retried         atomic.Uint64
	forwardFailed   atomic.Uint64
	malformed       atomic.Uint64
	slowConsumer    atomic.Uint64
	nodesLost       atomic.Uint64
	takeovers       atomic.Uint64
	adopted         atomic.Uint64
	fenced          atomic.Uint64
	retainedDropped atomic.Uint64
	recordsFailed   atomic.Uint64

	replayed         atomic.Uint64
	relayed          atomic.Uint64
	relayFailed      atomic.Uint64
	queueFailed      atomic.Uint64
	queueTimeouts    atomic.Uint64
	queueRetries     atomic.Uint64
	queuePurges      atomic.Uint64
	queuePurgeErrors atomic.Uint64

	latMu sync.Mutex
	lat   LatencyHistogram
}

// latencyBounds are the upper bounds (seconds) of the forward
// acknowledgement latency histogram.
var latencyBounds = []float64{0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// LatencyHistogram is a cumulative histogram of forward acknowledgement
// latencies: Counts[i] is how many took at most Bounds[i] seconds.
type LatencyHistogram struct {
	Bounds []float64
	Counts []uint64
	Count  uint64
	Sum    float64
}

func (s *stats) observeAck(d time.Duration) {
	s.latMu.Lock()
	defer s.latMu.Unlock()
	if s.lat.Bounds == nil {
		s.lat.Bounds = latencyBounds
		s.lat.Counts = make([]uint64, len(latencyBounds))
	}
	v := d.Seconds()
	for i, b := range latencyBounds {
		if v <= b {
			s.lat.Counts[i]++
		}
	}
	s.lat.Count++
	s.lat.Sum += v
}

// Stats is a snapshot of a node's cluster counters.
type Stats struct {
	// Forwarded counts messages this node published to the cluster and
	// ForwardedBytes their encoded size.
	Forwarded, ForwardedBytes uint64
	// Received counts messages other nodes forwarded here; Duplicates the
	// copies dropped (several matching filters, retries).
	Received, Duplicates uint64
	// Retried counts QoS 1/2 forwards sent again after the timeout;
	// ForwardFailed those given up (the publisher got no PUBACK).
	Retried, ForwardFailed uint64
	// Malformed counts frames that did not decode; SlowConsumer the
	// messages the in-process client dropped for want of room.
	Malformed, SlowConsumer uint64
	// NodesLost counts nodes declared gone; Takeovers sessions taken
	// from another node; Adopted sessions adopted from a lost node.
	NodesLost, Takeovers, Adopted uint64
	// Fenced counts local sessions closed because the registry named
	// another owner (after a partition); RetainedDropped retained
	// messages not replicated (queue full or write failed).
	Fenced, RetainedDropped uint64
	// RecordsFailed counts session records not replicated.
	RecordsFailed uint64
	// QueueFailed counts appends to the replicated session queues that
	// failed (their acknowledgements were withheld), QueueTimeouts the
	// Syncs that waited out the replication timeout, QueueRetries the
	// appends published again; QueuePurges and QueuePurgeErrors count
	// the purges of delivered messages.
	QueueFailed, QueueTimeouts, QueueRetries, QueuePurges, QueuePurgeErrors uint64
	// Replayed counts QoS 1/2 messages sent again once a lost node's
	// sessions were adopted.
	Replayed uint64
	// Relayed counts messages passed on to the node that took a session
	// over from this one (relay.go), RelayFailed those it did not store
	// in time (their senders send them again).
	Relayed, RelayFailed uint64
	// AckLatency is how long QoS 1/2 forwards waited for the nodes.
	AckLatency LatencyHistogram
}

// Stats returns the node's counters.
func (n *Node) Stats() Stats {
	s := &n.stats
	st := Stats{
		Forwarded: s.forwarded.Load(), ForwardedBytes: s.forwardedBytes.Load(),
		Received: s.received.Load(), Duplicates: s.duplicates.Load(),
		Retried: s.retried.Load(), ForwardFailed: s.forwardFailed.Load(),
		Malformed: s.malformed.Load(), SlowConsumer: s.slowConsumer.Load(),
		NodesLost: s.nodesLost.Load(), Takeovers: s.takeovers.Load(), Adopted: s.adopted.Load(),
		Fenced: s.fenced.Load(), RetainedDropped: s.retainedDropped.Load(), RecordsFailed: s.recordsFailed.Load(),
		QueueFailed: s.queueFailed.Load(), QueueTimeouts: s.queueTimeouts.Load(), QueueRetries: s.queueRetries.Load(),
		QueuePurges: s.queuePurges.Load(), QueuePurgeErrors: s.queuePurgeErrors.Load(), Replayed: s.replayed.Load(),
		Relayed: s.relayed.Load(), RelayFailed: s.relayFailed.Load(),
	}
	s.latMu.Lock()
	st.AckLatency = s.lat
	st.AckLatency.Counts = append([]uint64(nil), s.lat.Counts...)
	s.latMu.Unlock()
	return st
}
