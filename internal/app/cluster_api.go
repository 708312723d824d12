package app

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/msg"
)

// clusterBroker is the broker as the HTTP API sees it: on a cluster, client
// lookups, kicks and device commands reach the node that holds the client
// (its owner in the session registry), and client lists span every node.
// On a single node every call is the local broker's.
type clusterBroker struct {
	*broker.Server
	a *App
}

// commandStepsTimeout bounds how long a node streams a command's delivery
// steps to the node whose API sent it.
const commandStepsTimeout = 10 * time.Minute

// rpcTimeout bounds one call to another node.
const rpcTimeout = 10 * time.Second

// owner returns the other node that holds clientID, or "" when it is here
// or nowhere.
func (b clusterBroker) owner(ctx context.Context, clientID string) string {
	if b.a.cluster == nil {
		return ""
	}
	if exists, _ := b.Server.HasSession(clientID); exists {
		return ""
	}
	node, err := b.a.cluster.Owner(ctx, clientID)
	if err != nil || node == b.a.cluster.Name() {
		return ""
	}
	return node
}

// Client returns the client from whichever node holds it.
func (b clusterBroker) Client(clientID string) (broker.ClientInfo, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
	defer cancel()
	node := b.owner(ctx, clientID)
	if node == "" {
		return b.Server.Client(clientID)
	}
	var ci broker.ClientInfo
	if err := b.a.cluster.Call(ctx, node, "client", clientID, &ci); err != nil {
		return ci, false
	}
	return ci, ci.ClientID != ""
}

// Kick disconnects the client on whichever node holds it.
func (b clusterBroker) Kick(clientID string) error {
	ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
	defer cancel()
	node := b.owner(ctx, clientID)
	if node == "" {
		return b.Server.Kick(clientID)
	}
	return remoteBrokerError(b.a.cluster.Call(ctx, node, "kick", clientID, nil))
}

// remoteBrokerError maps the broker's sentinel errors back from their text.
func remoteBrokerError(err error) error {
	switch {
	case err == nil:
		return nil
	case strings.Contains(err.Error(), broker.ErrNotConnected.Error()):
		return broker.ErrNotConnected
	case strings.Contains(err.Error(), broker.ErrNoSession.Error()):
		return broker.ErrNoSession
	}
	return err
}

// Clients merges one page of clients from every node, in client id order.
func (b clusterBroker) Clients(q broker.ClientQuery) ([]broker.ClientInfo, bool) {
	page, more := b.Server.Clients(q)
	if b.a.cluster == nil {
		return page, more
	}
	ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
	defer cancel()
	type answer struct {
		Clients []broker.ClientInfo `json:"clients"`
		More    bool                `json:"more"`
	}
	for _, node := range b.a.cluster.Peers() {
		var ans answer
		if err := b.a.cluster.Call(ctx, node, "clients", q, &ans); err != nil {
			b.a.log.Warn("client list incomplete: a node did not answer", "node", node, "error", err)
			continue
		}
		page = append(page, ans.Clients...)
		more = more || ans.More
	}
	sort.Slice(page, func(i, j int) bool { return page[i].ClientID < page[j].ClientID })
	if limit := max(q.Limit, 1); len(page) > limit {
		page, more = page[:limit], true
	}
	return page, more
}

// commandRequest is a device command sent to the node holding the device.
type commandRequest struct {
	ClientID string       `json:"client_id"`
	Message  *msg.Message `json:"message"`
	// Steps is the inbox the delivery steps are sent to.
	Steps string `json:"steps"`
}

// SendToClient sends a command to the device on whichever node holds it;
// the delivery steps (delivered, acked, dropped) come back from that node.
func (b clusterBroker) SendToClient(ctx context.Context, clientID string, m *msg.Message) (broker.Outcome, <-chan broker.DeliveryResult, error) {
	node := b.owner(ctx, clientID)
	if node == "" {
		return b.Server.SendToClient(ctx, clientID, m)
	}
	subject, in, stop := b.a.cluster.Inbox(8)
	var out broker.Outcome
	rctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
	if err := b.a.cluster.Call(rctx, node, "command", commandRequest{ClientID: clientID, Message: m, Steps: subject}, &out); err != nil {
		stop()
		return broker.OutcomeNoSession, nil, remoteBrokerError(err)
	}
	steps := make(chan broker.DeliveryResult, 4)
	go func() {
		defer stop()
		timeout := time.After(commandStepsTimeout)
		for {
			select {
			case b, ok := <-in:
				if !ok {
					return
				}
				var r broker.DeliveryResult
				if json.Unmarshal(b, &r) != nil {
					continue
				}
				steps <- r
				if r.Status == broker.StatusAcked || r.Status == broker.StatusDropped {
					close(steps)
					return
				}
			case <-timeout:
				return
			}
		}
	}()
	return out, steps, nil
}

// serveClusterAPI answers the other nodes' calls for their HTTP API.
func (a *App) serveClusterAPI() error {
	n := a.cluster
	handlers := map[string]func(context.Context, []byte) (any, error){
		"client": func(_ context.Context, req []byte) (any, error) {
			var id string
			if err := json.Unmarshal(req, &id); err != nil {
				return nil, err
			}
			ci, _ := a.broker.Client(id)
			return ci, nil
		},
		"kick": func(_ context.Context, req []byte) (any, error) {
			var id string
			if err := json.Unmarshal(req, &id); err != nil {
				return nil, err
			}
			return nil, a.broker.Kick(id)
		},
		"clients": func(_ context.Context, req []byte) (any, error) {
			var q broker.ClientQuery
			if err := json.Unmarshal(req, &q); err != nil {
				return nil, err
			}
			page, more := a.broker.Clients(q)
			return map[string]any{"clients": page, "more": more}, nil
		},
		"command": a.remoteCommand,
	}
	for name, h := range handlers {
		if err := n.Handle(name, h); err != nil {
			return err
		}
	}
	return nil
}

// remoteCommand sends another node's API command to a local device and
// streams its delivery steps back.
func (a *App) remoteCommand(ctx context.Context, req []byte) (any, error) {
	var r commandRequest
	if err := json.Unmarshal(req, &r); err != nil {
		return nil, err
	}
	if r.Message == nil {
		return nil, errors.New("command without a message")
	}
	out, steps, err := a.broker.SendToClient(ctx, r.ClientID, r.Message)
	if err != nil {
		return nil, err
	}
	if steps != nil {
		go func() {
			timeout := time.After(commandStepsTimeout)
			for {
				select {
				case s, ok := <-steps:
					if !ok {
						return
					}
					b, _ := json.Marshal(s)
					_ = a.cluster.Send(r.Steps, b)
					if s.Status == broker.StatusAcked || s.Status == broker.StatusDropped {
						return
					}
				case <-timeout:
					return
				}
			}
		}()
	}
	return out, nil
}
