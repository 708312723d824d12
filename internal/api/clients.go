package api

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/msg"
)

// Page sizes of the list endpoints.
const (
	defaultLimit = 100
	maxLimit     = 1000
)

// page is the envelope of every list answer. NextCursor, when set, is
// passed as ?cursor= to get the next page.
type page[T any] struct {
	Data []T      `json:"data"`
	Meta pageMeta `json:"meta"`
}

type pageMeta struct {
	Limit      int    `json:"limit"`
	Count      int    `json:"count"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// pageParams reads ?limit= and ?cursor= (opaque: base64url of the last
// key of the previous page).
func pageParams(r *http.Request) (limit int, after string, err error) {
	limit = defaultLimit
	q := r.URL.Query()
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxLimit {
			return 0, "", badField("limit", "%q: must be a number from 1 to %d", s, maxLimit)
		}
		limit = n
	}
	if c := q.Get("cursor"); c != "" {
		b, err := base64.RawURLEncoding.DecodeString(c)
		if err != nil {
			return 0, "", badField("cursor", "not a cursor returned by this endpoint")
		}
		after = string(b)
	}
	return limit, after, nil
}

func cursor(key string) string { return base64.RawURLEncoding.EncodeToString([]byte(key)) }

// convertAll returns f of every item, in order (empty, not nil, for none:
// a JSON list).
func convertAll[T, J any](items []T, f func(T) J) []J {
	out := make([]J, len(items))
	for i, it := range items {
		out[i] = f(it)
	}
	return out
}

func newPage[T any](data []T, limit int, more bool, last func(T) string) page[T] {
	if data == nil {
		data = []T{}
	}
	p := page[T]{Data: data, Meta: pageMeta{Limit: limit, Count: len(data)}}
	if more && len(data) > 0 {
		p.Meta.NextCursor = cursor(last(data[len(data)-1]))
	}
	return p
}

// clientJSON is a client in answers.
type clientJSON struct {
	ClientID          string             `json:"client_id"`
	Username          string             `json:"username"`
	Owner             string             `json:"owner,omitempty"`
	Connected         bool               `json:"connected"`
	Node              string             `json:"node,omitempty"`
	ProtocolVersion   string             `json:"protocol_version"`
	Address           string             `json:"address,omitempty"`
	Listener          string             `json:"listener,omitempty"`
	ConnectedAt       *time.Time         `json:"connected_at,omitempty"`
	DisconnectedAt    *time.Time         `json:"disconnected_at,omitempty"`
	KeepAlive         int                `json:"keep_alive"`
	SessionExpiry     int64              `json:"session_expiry"`
	SubscriptionCount int                `json:"subscription_count"`
	Subscriptions     []subscriptionJSON `json:"subscriptions,omitempty"`
	Inflight          int                `json:"inflight"`
	Queued            int                `json:"queued"`
	QueuedPeak        int                `json:"queued_peak"`
	MessagesIn        uint64             `json:"messages_in"`
	MessagesOut       uint64             `json:"messages_out"`
	Dropped           uint64             `json:"dropped"`
	// Will and ConnectProperties: GET /api/v1/clients/{clientid} of a
	// connected client only, when its CONNECT had them.
	Will              *willJSON              `json:"will,omitempty"`
	ConnectProperties *connectPropertiesJSON `json:"connect_properties,omitempty"`
}

// userPropertyJSON is one MQTT 5 user property (a list keeps their order
// and repeated keys).
type userPropertyJSON struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func toUserPropertiesJSON(ups []msg.UserProperty) []userPropertyJSON {
	if len(ups) == 0 {
		return nil
	}
	return convertAll(ups, func(u msg.UserProperty) userPropertyJSON { return userPropertyJSON(u) })
}

// willJSON is a client's will (its payload's size, not the payload).
type willJSON struct {
	Topic          string             `json:"topic"`
	QoS            byte               `json:"qos"`
	Retain         bool               `json:"retain"`
	DelaySeconds   uint32             `json:"delay_seconds"`
	PayloadSize    int                `json:"payload_size"`
	MessageExpiry  *uint32            `json:"message_expiry,omitempty"`
	ContentType    string             `json:"content_type,omitempty"`
	ResponseTopic  string             `json:"response_topic,omitempty"`
	PayloadFormat  byte               `json:"payload_format,omitempty"`
	UserProperties []userPropertyJSON `json:"user_properties,omitempty"`
}

// connectPropertiesJSON are the MQTT 5 properties of a client's CONNECT as
// it sent them (absent: not sent).
type connectPropertiesJSON struct {
	SessionExpiry       *uint32            `json:"session_expiry,omitempty"`
	ReceiveMaximum      uint16             `json:"receive_maximum,omitempty"`
	MaximumPacketSize   uint32             `json:"maximum_packet_size,omitempty"`
	TopicAliasMaximum   uint16             `json:"topic_alias_maximum,omitempty"`
	RequestResponseInfo bool               `json:"request_response_info,omitempty"`
	RequestProblemInfo  *bool              `json:"request_problem_info,omitempty"`
	UserProperties      []userPropertyJSON `json:"user_properties,omitempty"`
}

func toWillJSON(w *broker.WillInfo) *willJSON {
	if w == nil {
		return nil
	}
	out := &willJSON{Topic: w.Topic, QoS: w.QoS, Retain: w.Retain, DelaySeconds: w.DelaySeconds, PayloadSize: w.PayloadSize,
		ContentType: w.ContentType, ResponseTopic: w.ResponseTopic, PayloadFormat: w.PayloadFormat,
		UserProperties: toUserPropertiesJSON(w.UserProperties)}
	if w.HasMessageExpiry {
		e := w.MessageExpiry
		out.MessageExpiry = &e
	}
	return out
}

func toConnectPropertiesJSON(p *broker.ConnectProperties) *connectPropertiesJSON {
	if p == nil {
		return nil
	}
	out := &connectPropertiesJSON{ReceiveMaximum: p.ReceiveMaximum, MaximumPacketSize: p.MaximumPacketSize,
		TopicAliasMaximum: p.TopicAliasMaximum, RequestResponseInfo: p.RequestResponseInfo,
		UserProperties: toUserPropertiesJSON(p.UserProperties)}
	if p.HasSessionExpiry {
		e := p.SessionExpiry
		out.SessionExpiry = &e
	}
	if p.HasRequestProblemInfo {
		b := p.RequestProblemInfo
		out.RequestProblemInfo = &b
	}
	return out
}

func toClientJSON(ci broker.ClientInfo) clientJSON {
	c := clientJSON{
		ClientID: ci.ClientID, Username: ci.Username, Owner: ci.Owner, Connected: ci.Connected, Node: ci.Node, ProtocolVersion: ci.ProtocolVersion,
		Address: ci.Remote, Listener: ci.Listener, KeepAlive: int(ci.KeepAlive / time.Second),
		SessionExpiry: int64(ci.SessionExpiry / time.Second), SubscriptionCount: ci.SubscriptionCount,
		Inflight: ci.Inflight, Queued: ci.Queued, QueuedPeak: ci.QueuedPeak, MessagesIn: ci.MessagesIn, MessagesOut: ci.MessagesOut,
		Dropped: ci.Dropped, Will: toWillJSON(ci.Will), ConnectProperties: toConnectPropertiesJSON(ci.ConnectProperties),
	}
	if ci.SessionExpiry < 0 {
		c.SessionExpiry = -1
	}
	c.ConnectedAt, c.DisconnectedAt = optTime(ci.ConnectedAt), optTime(ci.DisconnectedAt)
	for _, s := range ci.Subscriptions {
		c.Subscriptions = append(c.Subscriptions, toSubscriptionJSON(s))
	}
	return c
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// clientQuery reads the filters of GET /api/v1/clients.
func clientQuery(r *http.Request) (broker.ClientQuery, error) {
	limit, after, err := pageParams(r)
	if err != nil {
		return broker.ClientQuery{}, err
	}
	q := r.URL.Query()
	cq := broker.ClientQuery{IDPrefix: q.Get("client_id_prefix"), Username: q.Get("username"), After: after, Limit: limit,
		Search: q.Get("search"), Protocol: q.Get("protocol"), Address: q.Get("address")}
	if s := q.Get("connected"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return cq, badField("connected", "%q: must be true or false", s)
		}
		cq.Connected = &b
	}
	switch cq.Protocol {
	case "", "3.1.1", "5.0":
	default:
		return cq, badField("protocol", "%q: must be 3.1.1 or 5.0", cq.Protocol)
	}
	for name, dst := range map[string]*uint64{"min_queued": nil, "min_dropped": &cq.MinDropped} {
		s := q.Get(name)
		if s == "" {
			continue
		}
		n, err := strconv.ParseUint(s, 10, 31)
		if err != nil {
			return cq, badField(name, "%q: must be a whole number", s)
		}
		if dst == nil {
			cq.MinQueued = int(n)
		} else {
			*dst = n
		}
	}
	return cq, nil
}

// listClients answers GET /api/v1/clients with the filters of clientQuery,
// limit and cursor.
func (a *API) listClients(w http.ResponseWriter, r *http.Request) error {
	cq, err := clientQuery(r)
	if err != nil {
		return err
	}
	infos, more := a.o.Broker.Clients(cq)
	writeJSON(w, http.StatusOK, newPage(convertAll(infos, toClientJSON), cq.Limit, more, func(c clientJSON) string { return c.ClientID }))
	return nil
}

func (a *API) getClient(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("clientid")
	ci, ok := a.o.Broker.Client(id)
	if !ok {
		return errorf(http.StatusNotFound, CodeClientNotFound, "no session for client id %q", id)
	}
	writeJSON(w, http.StatusOK, toClientJSON(ci))
	return nil
}

// kickClient disconnects a client (v5: DISCONNECT 0x98 Administrative
// action); its session stays when persistent.
func (a *API) kickClient(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("clientid")
	switch err := a.o.Broker.Kick(id); {
	case errors.Is(err, broker.ErrNoSession):
		return errorf(http.StatusNotFound, CodeClientNotFound, "no session for client id %q", id)
	case errors.Is(err, broker.ErrNotConnected):
		return errorf(http.StatusConflict, CodeClientNotConnected, "client %q is not connected", id)
	case err != nil:
		return err
	}
	a.log.Info("client disconnected through the API", "client_id", id)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// discardSession answers DELETE /api/v1/clients/{clientid}/session: an
// offline client's session ends now (subscriptions and queued messages
// go).
func (a *API) discardSession(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("clientid")
	switch err := a.o.Broker.DiscardSession(id); {
	case errors.Is(err, broker.ErrNoSession):
		return errorf(http.StatusNotFound, CodeClientNotFound, "no session for client id %q", id)
	case errors.Is(err, broker.ErrConnected):
		return errorf(http.StatusConflict, CodeClientConnected, "client %q is connected: disconnect it first (DELETE /api/v1/clients/{clientid})", id)
	case err != nil:
		return err
	}
	a.log.Info("session discarded through the API", "client_id", id)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// subscriptionJSON is a subscription in answers and in subscribe requests.
type subscriptionJSON struct {
	ClientID          string `json:"client_id,omitempty"`
	Filter            string `json:"filter"`
	QoS               byte   `json:"qos"`
	NoLocal           bool   `json:"no_local"`
	RetainAsPublished bool   `json:"retain_as_published"`
	RetainHandling    byte   `json:"retain_handling"`
	SubscriptionID    uint32 `json:"subscription_id,omitempty"`
}

func toSubscriptionJSON(s broker.SubscriptionInfo) subscriptionJSON {
	return subscriptionJSON{ClientID: s.ClientID, Filter: s.Filter, QoS: s.QoS, NoLocal: s.NoLocal,
		RetainAsPublished: s.RetainAsPublished, RetainHandling: s.RetainHandling, SubscriptionID: s.SubscriptionID}
}

// listSubscriptions answers GET /api/v1/subscriptions?client_id=&filter=&topic=&limit=&cursor=.
func (a *API) listSubscriptions(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	return a.subscriptions(w, r, q.Get("client_id"))
}

func (a *API) clientSubscriptions(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("clientid")
	if _, ok := a.o.Broker.Client(id); !ok {
		return errorf(http.StatusNotFound, CodeClientNotFound, "no session for client id %q", id)
	}
	return a.subscriptions(w, r, id)
}

func (a *API) subscriptions(w http.ResponseWriter, r *http.Request, clientID string) error {
	limit, after, err := pageParams(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	afterClient, afterFilter, _ := strings.Cut(after, "\x00")
	subs, more := a.o.Broker.Subscriptions(broker.SubscriptionQuery{
		ClientID: clientID, Filter: q.Get("filter"), Topic: q.Get("topic"),
		AfterClientID: afterClient, AfterFilter: afterFilter, Limit: limit,
	})
	writeJSON(w, http.StatusOK, newPage(convertAll(subs, toSubscriptionJSON), limit, more, func(s subscriptionJSON) string { return s.ClientID + "\x00" + s.Filter }))
	return nil
}

// subscribe subscribes a client server-side, as if it had sent SUBSCRIBE.
func (a *API) subscribe(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("clientid")
	var req subscriptionJSON
	if err := decodeBody(r.Body, &req); err != nil {
		return err
	}
	if req.ClientID != "" && req.ClientID != id {
		return badField("client_id", "differs from the client id in the path")
	}
	if req.Filter == "" {
		return badField("filter", "required")
	}
	if req.SubscriptionID != 0 {
		return badField("subscription_id", "cannot be set server-side")
	}
	isNew, err := a.o.Broker.SubscribeClient(id, req.Filter, broker.SubscribeOptions{
		QoS: req.QoS, NoLocal: req.NoLocal, RetainAsPublished: req.RetainAsPublished, RetainHandling: req.RetainHandling,
	})
	switch {
	case errors.Is(err, broker.ErrNoSession):
		return errorf(http.StatusNotFound, CodeClientNotFound, "no session for client id %q", id)
	case errors.Is(err, broker.ErrQuotaExceeded):
		return errorf(http.StatusConflict, CodeQuotaExceeded, "client %q has the most subscriptions allowed (mqtt.max_subscriptions_per_client)", id)
	case errors.Is(err, broker.ErrBadFilter):
		return badField("filter", "%v", err)
	case err != nil:
		return err
	}
	req.ClientID = id
	status := http.StatusOK
	if isNew {
		status = http.StatusCreated
	}
	writeJSON(w, status, req)
	return nil
}

// unsubscribe removes a client's subscription: DELETE
// /api/v1/clients/{clientid}/subscriptions?filter=devices%2F%2B%2Fstate.
func (a *API) unsubscribe(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("clientid")
	filter := r.URL.Query().Get("filter")
	if filter == "" {
		return badField("filter", "required (a query parameter, URL-encoded)")
	}
	switch err := a.o.Broker.UnsubscribeClient(id, filter); {
	case errors.Is(err, broker.ErrNoSession):
		return errorf(http.StatusNotFound, CodeClientNotFound, "no session for client id %q", id)
	case errors.Is(err, broker.ErrNoSubscription):
		return errorf(http.StatusNotFound, CodeSubscriptionNotFound, "client %q has no subscription to %q", id, filter)
	case err != nil:
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
