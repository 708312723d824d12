package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/msg"
)

// The wait modes of a command.
const (
	waitNone      = "none"      // answer once the session took it
	waitDelivered = "delivered" // answer once written to the device's socket
	waitAcked     = "acked"     // answer once the device's PUBACK/PUBCOMP arrived
)

// The statuses of a command answer.
const (
	statusAcked     = "acked"
	statusDelivered = "delivered"
	statusSent      = "sent" // wait none: the device is connected, on its way
	statusQueued    = "queued"
	statusNoSession = "no_session"
	statusDropped   = "dropped"
	statusTimeout   = "timeout"
)

// commandRequest is the body of POST /api/v1/devices/{clientid}/commands.
type commandRequest struct {
	message
	// Topic defaults to api.command_topic for the device.
	Topic string `json:"topic"`
	// Wait is none, delivered or acked (default: acked for QoS 1/2,
	// delivered for QoS 0).
	Wait string `json:"wait"`
	// Timeout bounds the wait ("5s"; default api.command_timeout).
	Timeout string `json:"timeout"`
}

// commandResult is the answer to a command. Non-2xx answers carry code and
// message too, as every error does.
type commandResult struct {
	Code     string `json:"code,omitempty"`
	Message  string `json:"message,omitempty"`
	Status   string `json:"status"`
	ClientID string `json:"client_id"`
	Topic    string `json:"topic"`
	QoS      byte   `json:"qos"`
	ID       uint64 `json:"id,omitempty"`
	Reason   string `json:"reason,omitempty"`
	// Edge is the edge hub that relayed the command to the device (a
	// device behind an edge, docs/edge.md).
	Edge        string     `json:"edge,omitempty"`
	RequestedAt time.Time  `json:"requested_at"`
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
	AckedAt     *time.Time `json:"acked_at,omitempty"`
	AnsweredAt  time.Time  `json:"answered_at"`
	// LatencyMS is the time from the request to the answer.
	LatencyMS float64 `json:"latency_ms"`
}

// command sends a message to one device and answers, per wait, with what
// is known of its delivery: acked, delivered, sent, queued (offline with
// a persistent session), no_session, dropped, or timeout.
func (a *API) command(w http.ResponseWriter, r *http.Request) error {
	start := time.Now()
	clientID := r.PathValue("clientid")
	var req commandRequest
	if err := decodeBody(r.Body, &req); err != nil {
		return err
	}
	m, timeout, err := a.commandMessage(clientID, &req, start)
	if err != nil {
		return err
	}
	wait := req.Wait
	switch {
	case wait == "" && m.QoS == 0:
		wait = waitDelivered
	case wait == "":
		wait = waitAcked
	case wait != waitNone && wait != waitDelivered && wait != waitAcked:
		return badField("wait", "%q: must be none, delivered or acked", wait)
	case wait == waitAcked && m.QoS == 0:
		return badField("wait", "acked needs qos 1 or 2 (QoS 0 messages are not acknowledged)")
	}
	res := commandResult{ClientID: clientID, Topic: m.Topic, QoS: m.QoS, RequestedAt: start}
	out, steps, err := a.o.Broker.SendToClient(r.Context(), clientID, m)
	if err != nil {
		return badField("topic", "%v", err)
	}
	res.ID = m.ID
	relayed := false
	if out == broker.OutcomeNoSession {
		if relayed, err = a.relayCommand(r.Context(), &res, m, wait, timeout); err != nil {
			return err
		}
	}
	if !relayed {
		a.follow(r.Context(), &res, out, steps, wait, timeout)
	}
	res.AnsweredAt = time.Now()
	res.LatencyMS = float64(res.AnsweredAt.Sub(start).Microseconds()) / 1000
	writeJSON(w, commandStatus(&res), res)
	return nil
}

// commandMessage validates a command request and builds its message.
func (a *API) commandMessage(clientID string, req *commandRequest, now time.Time) (*msg.Message, time.Duration, error) {
	if clientID == "" {
		return nil, 0, badField("clientid", "required")
	}
	topicName := req.Topic
	if topicName == "" {
		topicName = expandTopic(a.o.CommandTopic, clientID)
	}
	if err := a.checkReserved("topic", topicName); err != nil {
		return nil, 0, err
	}
	timeout, err := parseTimeout(req.Timeout, a.o.CommandTimeout, a.o.MaxCommandTimeout)
	if err != nil {
		return nil, 0, err
	}
	m, err := req.toMessage(topicName, 1, now)
	return m, timeout, err
}

// expandTopic fills {clientid} in a topic template.
func expandTopic(template, clientID string) string {
	return strings.ReplaceAll(template, "{clientid}", clientID)
}

// follow waits, per wait and up to timeout, for the steps of a command
// and records them in res.
func (a *API) follow(ctx context.Context, res *commandResult, out broker.Outcome, steps <-chan broker.DeliveryResult, wait string, timeout time.Duration) {
	switch out {
	case broker.OutcomeNoSession:
		res.Status = statusNoSession
		return
	case broker.OutcomeQueued:
		res.Status = statusQueued
		return
	}
	res.Status = statusSent
	if wait == waitNone {
		return // what happens next is not awaited
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case step, ok := <-steps:
			if !ok || record(res, step) || wait == waitDelivered && res.DeliveredAt != nil {
				return
			}
		case <-timer.C:
			res.Status = statusTimeout
			return
		case <-ctx.Done():
			res.Status = statusTimeout
			return
		}
	}
}

// record applies one step to res and reports whether it is final.
func record(res *commandResult, step broker.DeliveryResult) bool {
	at := step.At
	switch step.Status {
	case broker.StatusDelivered:
		res.DeliveredAt, res.Status = &at, statusDelivered
		return false
	case broker.StatusAcked:
		if res.DeliveredAt == nil {
			res.DeliveredAt = &at // the ack overtook the writer's report
		}
		res.AckedAt, res.Status = &at, statusAcked
		return true
	case broker.StatusDropped:
		res.Status, res.Reason = statusDropped, step.Reason
		return true
	}
	return false
}

// commandStatus sets the code and message of a non-2xx answer and
// returns its HTTP status: 200 acked or delivered, 202 sent or queued,
// 404 no_session, 409 dropped, 504 timeout.
func commandStatus(res *commandResult) int {
	switch res.Status {
	case statusAcked, statusDelivered:
		return http.StatusOK
	case statusSent, statusQueued:
		return http.StatusAccepted
	case statusNoSession:
		res.Code, res.Message = CodeNoSession, "no session for client id "+res.ClientID+": the device never connected, or its session ended"
		return http.StatusNotFound
	case statusDropped:
		res.Code, res.Message = CodeDropped, "the device's session refused the message: "+res.Reason
		return http.StatusConflict
	}
	res.Code = CodeTimeout
	res.Message = "the device did not acknowledge in time"
	if res.DeliveredAt == nil {
		res.Message = "the message was not written to the device in time (it stays in the device's session)"
	}
	return http.StatusGatewayTimeout
}

// rpcRequest is the body of POST /api/v1/devices/{clientid}/rpc.
type rpcRequest struct {
	message
	Topic   string `json:"topic"`
	Timeout string `json:"timeout"`
}

// rpcResult is the answer to an RPC call: the device's reply.
type rpcResult struct {
	Status          string      `json:"status"`
	ClientID        string      `json:"client_id"`
	Topic           string      `json:"topic"`
	ResponseTopic   string      `json:"response_topic"`
	CorrelationData string      `json:"correlation_data"`
	Payload         string      `json:"payload"`
	PayloadEncoding string      `json:"payload_encoding"`
	Properties      *Properties `json:"properties,omitempty"`
	LatencyMS       float64     `json:"latency_ms"`
}

// rpc sends a request with an MQTT 5 response topic and correlation data
// to one device and answers with its reply, or a timeout.
func (a *API) rpc(w http.ResponseWriter, r *http.Request) error {
	start := time.Now()
	clientID := r.PathValue("clientid")
	var req rpcRequest
	if err := decodeBody(r.Body, &req); err != nil {
		return err
	}
	if req.Properties != nil && (req.Properties.ResponseTopic != "" || req.Properties.CorrelationData != "") {
		return badField("properties.response_topic", "set by the hub for an RPC call")
	}
	m, timeout, err := a.commandMessage(clientID, &commandRequest{message: req.message, Topic: req.Topic, Timeout: req.Timeout}, start)
	if err != nil {
		return err
	}
	if m.QoS == 0 && req.QoS == nil {
		m.QoS = 1
	}
	if ci, ok := a.o.Broker.Client(clientID); ok && ci.Connected && ci.ProtocolVersion != "5.0" {
		return errorf(http.StatusConflict, CodeUnsupportedProtocol, "client %s speaks MQTT %s: request/response needs MQTT 5", clientID, ci.ProtocolVersion)
	}
	m.ResponseTopic = expandTopic(a.o.RPCResponseTopic, clientID)
	m.CorrelationData = newCorrelation()
	replies, cancel := a.o.Broker.AwaitReply(m.ResponseTopic, m.CorrelationData)
	defer cancel()
	out, _, err := a.o.Broker.SendToClient(r.Context(), clientID, m)
	if err != nil {
		return badField("topic", "%v", err)
	}
	if out == broker.OutcomeNoSession {
		return errorf(http.StatusNotFound, CodeNoSession, "no session for client id %s", clientID)
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case reply := <-replies:
		writeJSON(w, http.StatusOK, rpcAnswer(clientID, m, reply, start))
		return nil
	case <-timer.C:
	case <-r.Context().Done():
	}
	return errorf(http.StatusGatewayTimeout, CodeTimeout, "no reply from %s on %s within %s", clientID, m.ResponseTopic, timeout)
}

func rpcAnswer(clientID string, req, reply *msg.Message, start time.Time) rpcResult {
	res := rpcResult{
		Status: "replied", ClientID: clientID, Topic: req.Topic, ResponseTopic: req.ResponseTopic,
		CorrelationData: string(req.CorrelationData),
		LatencyMS:       float64(time.Since(start).Microseconds()) / 1000,
	}
	res.Payload, res.PayloadEncoding = encodedPayload(reply.Payload)
	p := &Properties{ContentType: reply.ContentType, PayloadFormat: reply.PayloadFormat}
	for _, u := range reply.UserProperties {
		if p.UserProperties == nil {
			p.UserProperties = map[string]string{}
		}
		p.UserProperties[u.Key] = u.Value
	}
	if p.ContentType != "" || p.PayloadFormat != 0 || p.UserProperties != nil {
		res.Properties = p
	}
	return res
}

// newCorrelation returns random correlation data (hex text, so that
// devices can echo it easily).
func newCorrelation() []byte {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return []byte(hex.EncodeToString(b[:]))
}
