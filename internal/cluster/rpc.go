package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// ErrNoOwner is returned by Owner when no node owns the client id.
var ErrNoOwner = errors.New("cluster: no node holds the client")

// ErrRemote wraps the error text a remote handler returned.
var ErrRemote = errors.New("cluster: remote node")

func (n *Node) subscribeRPC() error { return nil }

// rpcReply is the envelope of a Call's answer.
type rpcReply struct {
	Body  json.RawMessage `json:"body,omitempty"`
	Error string          `json:"error,omitempty"`
}

// Handle serves method for the other nodes: h gets the request body and
// returns the answer's (JSON). Each request runs on its own goroutine,
// bounded by 30 seconds. Register handlers before serving clients.
func (n *Node) Handle(method string, h func(ctx context.Context, req []byte) (any, error)) error {
	_, err := n.nc.Subscribe(subjRPC+nodeToken(n.opts.Name)+"."+method, func(m *nats.Msg) {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var r rpcReply
			v, err := h(ctx, m.Data)
			if err != nil {
				r.Error = err.Error()
			} else if r.Body, err = json.Marshal(v); err != nil {
				r.Error = err.Error()
			}
			b, _ := json.Marshal(r)
			_ = m.Respond(b)
		}()
	})
	if err != nil {
		return fmt.Errorf("cluster: serve %s: %w", method, err)
	}
	return nil
}

// Call calls method on node with req (JSON) and decodes the answer into
// out, bounded by ctx.
func (n *Node) Call(ctx context.Context, node, method string, req, out any) error {
	b, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("cluster: %s request: %w", method, err)
	}
	msg, err := n.nc.RequestWithContext(ctx, subjRPC+nodeToken(node)+"."+method, b)
	if err != nil {
		return fmt.Errorf("cluster: %s on %s: %w", method, node, err)
	}
	var r rpcReply
	if err := json.Unmarshal(msg.Data, &r); err != nil {
		return fmt.Errorf("cluster: %s answer from %s: %w", method, node, err)
	}
	if r.Error != "" {
		return fmt.Errorf("%w %s: %s", ErrRemote, node, r.Error)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(r.Body, out); err != nil {
		return fmt.Errorf("cluster: %s answer from %s: %w", method, node, err)
	}
	return nil
}

// Send publishes data on subject (an inbox another node listens on).
func (n *Node) Send(subject string, data []byte) error {
	if err := n.nc.Publish(subject, data); err != nil {
		return fmt.Errorf("cluster: send: %w", err)
	}
	return nil
}

// Inbox returns a fresh subject and the messages sent to it, until stop is
// called (then the channel is closed).
func (n *Node) Inbox(buffer int) (subject string, msgs <-chan []byte, stop func()) {
	subject = nats.NewInbox()
	out := make(chan []byte, buffer)
	in := make(chan *nats.Msg, buffer)
	sub, err := n.nc.ChanSubscribe(subject, in)
	if err != nil {
		close(out)
		return subject, out, func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(out)
		for {
			select {
			case <-done:
				return
			case m := <-in:
				select {
				case out <- m.Data:
				case <-done:
					return
				}
			}
		}
	}()
	var once sync.Once
	return subject, out, func() { once.Do(func() { _ = sub.Unsubscribe(); close(done) }) }
}

// Owner returns the node registered as owning clientID.
func (n *Node) Owner(ctx context.Context, clientID string) (string, error) {
	select {
	case <-n.st.ready:
	case <-ctx.Done():
		return "", fmt.Errorf("%w: %w", ErrNotReady, ctx.Err())
	}
	e, err := n.st.sessions.Get(ctx, registryKey(clientID))
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrNoOwner, err)
	}
	var o owner
	if err := json.Unmarshal(e.Value(), &o); err != nil {
		return "", fmt.Errorf("%w: %w", ErrNoOwner, err)
	}
	return o.Node, nil
}
