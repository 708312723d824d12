package upstream

import (
	"context"
	"encoding/json"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/msg"
)

// Commands travel down as MQTT 5 request/response: the centre publishes a
// CommandRequest to CommandTopic, with a response topic under
// ReplyPrefix and correlation data; every edge subscribed to it that has
// a session for the device relays the command to it, follows its
// delivery as the request's wait says, and publishes one CommandReply to
// the response topic; an edge without a session for the device answers
// no_session.
const (
	// CommandTopic is where the centre publishes command requests.
	CommandTopic = "$iothub/edges/commands"
	// ReplyPrefix starts the response topics of command requests.
	ReplyPrefix = "$iothub/edges/replies/"
)

// The statuses of a CommandReply (those of the HTTP API's command answer).
const (
	StatusAcked     = "acked"
	StatusDelivered = "delivered"
	StatusSent      = "sent"
	StatusQueued    = "queued"
	StatusNoSession = "no_session"
	StatusDropped   = "dropped"
	StatusTimeout   = "timeout"
)

// The wait modes of a CommandRequest.
const (
	WaitNone      = "none"
	WaitDelivered = "delivered"
	WaitAcked     = "acked"
)

// CommandRequest is the payload of a command request (JSON).
type CommandRequest struct {
	ClientID       string      `json:"client_id"`
	Topic          string      `json:"topic"`
	Payload        []byte      `json:"payload"`
	QoS            byte        `json:"qos"`
	Retain         bool        `json:"retain,omitempty"`
	ContentType    string      `json:"content_type,omitempty"`
	UserProperties [][2]string `json:"user_properties,omitempty"`
	Wait           string      `json:"wait"`
	TimeoutMS      int64       `json:"timeout_ms"`
}

// CommandReply is the payload of an edge's answer (JSON).
type CommandReply struct {
	Edge        string     `json:"edge"`
	Status      string     `json:"status"`
	ID          uint64     `json:"id,omitempty"`
	Reason      string     `json:"reason,omitempty"`
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
	AckedAt     *time.Time `json:"acked_at,omitempty"`
}

// maxCommands bounds the command requests an edge follows at once.
const maxCommands = 4096

// edgeCommands relays the centre's command requests to local devices.
type edgeCommands struct {
	e   *Edge
	sem chan struct{}
}

// handle decodes a request and follows it on its own goroutine.
func (c *edgeCommands) handle(p *paho.Publish) {
	if p.Properties == nil || p.Properties.ResponseTopic == "" {
		return
	}
	var req CommandRequest
	if err := json.Unmarshal(p.Payload, &req); err != nil || req.ClientID == "" {
		c.e.log.Warn("upstream: malformed command request from the centre", "error", err)
		return
	}
	rt, corr := p.Properties.ResponseTopic, p.Properties.CorrelationData
	select {
	case c.sem <- struct{}{}:
	default:
		c.reply(rt, corr, CommandReply{Status: StatusDropped, Reason: "edge_busy"})
		return
	}
	go func() {
		defer func() { <-c.sem }()
		c.reply(rt, corr, c.relay(&req))
	}()
}

// relay sends the command to the device and follows it.
func (c *edgeCommands) relay(req *CommandRequest) CommandReply {
	m := &msg.Message{Topic: req.Topic, Payload: req.Payload, QoS: min(req.QoS, 2), Retain: req.Retain,
		ContentType: req.ContentType, Origin: msg.Origin{Kind: msg.OriginUpstream, Name: c.e.link.o.URL.Host}}
	for _, kv := range req.UserProperties {
		m.UserProperties = append(m.UserProperties, msg.UserProperty{Key: kv[0], Value: kv[1]})
	}
	timeout := time.Duration(req.TimeoutMS) * time.Millisecond
	if timeout <= 0 || timeout > 10*time.Minute {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(c.e.link.ctx, timeout)
	defer cancel()
	out, steps, err := c.e.o.Broker.SendToClient(ctx, req.ClientID, m)
	if err != nil {
		return CommandReply{Status: StatusDropped, Reason: err.Error()}
	}
	res := CommandReply{ID: m.ID}
	switch out {
	case broker.OutcomeNoSession:
		res.Status = StatusNoSession
		return res
	case broker.OutcomeQueued:
		res.Status = StatusQueued
		return res
	}
	res.Status = StatusSent
	if req.Wait == WaitNone {
		return res
	}
	for {
		select {
		case step, ok := <-steps:
			if !ok || applyStep(&res, step) || req.Wait == WaitDelivered && res.DeliveredAt != nil {
				return res
			}
		case <-ctx.Done():
			res.Status = StatusTimeout
			return res
		}
	}
}

// applyStep records a delivery step and reports whether it is final.
func applyStep(res *CommandReply, step broker.DeliveryResult) bool {
	at := step.At
	switch step.Status {
	case broker.StatusDelivered:
		res.DeliveredAt, res.Status = &at, StatusDelivered
	case broker.StatusAcked:
		if res.DeliveredAt == nil {
			res.DeliveredAt = &at
		}
		res.AckedAt, res.Status = &at, StatusAcked
		return true
	case broker.StatusDropped:
		res.Status, res.Reason = StatusDropped, step.Reason
		return true
	}
	return false
}

// reply publishes the answer to the centre (QoS 1, not queued: a reply
// the link loses is the centre's timeout).
func (c *edgeCommands) reply(topic string, corr []byte, r CommandReply) {
	r.Edge = c.e.origin
	b, err := json.Marshal(r)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(c.e.link.ctx, 10*time.Second)
	defer cancel()
	p := &paho.Publish{Topic: topic, QoS: 1, Payload: b, Properties: &paho.PublishProperties{CorrelationData: corr}}
	if err := c.e.link.publish(ctx, p); err != nil {
		c.e.log.Debug("upstream: command reply not sent", "error", err)
	}
}
