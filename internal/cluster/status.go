package cluster

import (
	"github.com/nats-io/nats-server/v2/server"
)

// Peers returns the other live nodes, sorted.
func (n *Node) Peers() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.core.Peers()
}

// NodeStatus describes one node as this node sees it.
type NodeStatus struct {
	Name string `json:"name"`
	// State is "up" (this node, or a peer heard within the timeout).
	State string `json:"state"`
	// Self marks the node that answered.
	Self bool `json:"self,omitempty"`
	// Routes is the number of MQTT filters the node holds per the route
	// table (this node: its own).
	Routes int `json:"routes"`
}

// Status is what /api/v1/cluster shows.
type Status struct {
	Name  string       `json:"name"`
	Nodes []NodeStatus `json:"nodes"`
	// NATSRoutes is the number of open route connections of the embedded
	// server.
	NATSRoutes int `json:"nats_routes"`
	// JetStream reports the replicated state's health.
	JetStream JetStreamStatus `json:"jetstream"`
	// StateReady is true once this node has opened the replicated state
	// (the session registry, the retained messages): from then on it
	// accepts CONNECTs.
	StateReady bool `json:"state_ready"`
	// PendingForwards is the number of QoS 1/2 messages waiting for other
	// nodes to store them.
	PendingForwards int `json:"pending_forwards"`
}

// JetStreamStatus is the health of the replicated state as this node sees
// it.
type JetStreamStatus struct {
	Enabled bool `json:"enabled"`
	// MetaLeader is the node leading JetStream's metadata group ("": none,
	// no quorum).
	MetaLeader string `json:"meta_leader"`
	// Peers is the size of the metadata group.
	Peers int `json:"peers"`
	// Healthy is true when the node's JetStream health check passes.
	Healthy bool   `json:"healthy"`
	Error   string `json:"error,omitempty"`
}

// Status returns the cluster as this node sees it.
func (n *Node) Status() Status {
	n.mu.Lock()
	st := Status{Name: n.opts.Name, PendingForwards: len(n.pending)}
	st.Nodes = append(st.Nodes, NodeStatus{Name: n.opts.Name, State: "up", Self: true, Routes: len(n.filters)})
	for _, p := range n.core.Peers() {
		st.Nodes = append(st.Nodes, NodeStatus{Name: p, State: "up", Routes: n.core.RouteCount(p)})
	}
	n.mu.Unlock()
	st.NATSRoutes = n.ns.NumRoutes()
	st.JetStream = n.jetStreamStatus()
	select {
	case <-n.st.ready:
		st.StateReady = true
	default:
	}
	return st
}

func (n *Node) jetStreamStatus() JetStreamStatus {
	js := JetStreamStatus{Enabled: n.ns.JetStreamEnabled()}
	if !js.Enabled {
		return js
	}
	if info, err := n.ns.Jsz(&server.JSzOptions{}); err == nil && info.Meta != nil {
		js.MetaLeader = info.Meta.Leader
		js.Peers = info.Meta.Size
	}
	h := n.ns.Healthz(&server.HealthzOptions{JSEnabledOnly: true})
	js.Healthy = h.Status == "ok"
	js.Error = h.Error
	return js
}
