package cluster

import (
	"context"
	"encoding/base64"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/iothub-dev/iothub/msg"
)

// retainOp is one retained message to replicate (del: cleared).
type retainOp struct {
	m   *msg.Message
	del bool
}

func retainedKey(topicName string) string {
	return "t." + base64.RawURLEncoding.EncodeToString([]byte(topicName))
}

// Retain implements broker.Cluster: the retained message (an empty payload
// clears it) is written to the replicated bucket, in publish order, without
// blocking the publisher; every node's watcher applies it locally. A full
// queue drops the write (counted): the node's local retained message is
// still set.
func (n *Node) Retain(m *msg.Message) {
	select {
	case n.st.retainQ <- retainOp{m: m, del: len(m.Payload) == 0}:
	default:
		n.stats.retainedDropped.Add(1)
	}
}

// retainLoop writes the retained messages to the bucket.
func (n *Node) retainLoop() {
	defer n.wg.Done()
	select {
	case <-n.st.ready:
	case <-n.quit:
		return
	}
	for {
		select {
		case <-n.quit:
			return
		case op := <-n.st.retainQ:
			n.writeRetained(op)
		}
	}
}

func (n *Node) writeRetained(op retainOp) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*n.opts.ForwardTimeout)
	defer cancel()
	key := retainedKey(op.m.Topic)
	var err error
	if op.del {
		err = n.st.retained.Delete(ctx, key)
	} else {
		_, err = n.st.retained.Put(ctx, key, appendFrame(nil, &frame{node: n.opts.Name, inc: n.inc, m: op.m}))
	}
	if err != nil {
		n.stats.retainedDropped.Add(1)
		n.log.Warn("retained message not replicated", "topic", op.m.Topic, "error", err)
	}
}

// watchRetained applies the bucket's retained messages to the local index:
// all of them when the node starts, then every change.
func (n *Node) watchRetained() {
	defer n.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-n.quit; cancel() }()
	w, err := n.st.retained.WatchAll(ctx)
	if err != nil {
		n.log.Error("retained watch", "error", err)
		return
	}
	for e := range w.Updates() {
		if e == nil {
			continue
		}
		b, err := base64.RawURLEncoding.DecodeString(e.Key()[min(2, len(e.Key())):])
		bp := n.broker.Load()
		if err != nil || bp == nil {
			continue
		}
		topicName := string(b)
		if e.Operation() != jetstream.KeyValuePut {
			(*bp).ApplyRetained(topicName, nil)
			continue
		}
		f, err := decodeFrame(e.Value(), topicName)
		if err != nil {
			n.stats.malformed.Add(1)
			continue
		}
		f.m.Retain = true
		if f.m.ReceivedAt.IsZero() {
			f.m.ReceivedAt = time.Now()
		}
		(*bp).ApplyRetained(topicName, f.m)
	}
}
