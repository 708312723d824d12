package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/msg"
)

// retainedJSON is a retained message in answers.
type retainedJSON struct {
	Topic           string      `json:"topic"`
	Payload         string      `json:"payload"`
	PayloadEncoding string      `json:"payload_encoding"`
	QoS             byte        `json:"qos"`
	From            string      `json:"from,omitempty"`
	ReceivedAt      time.Time   `json:"received_at"`
	ExpiresAt       *time.Time  `json:"expires_at,omitempty"`
	Properties      *Properties `json:"properties,omitempty"`
}

func toRetainedJSON(m *msg.Message) retainedJSON {
	r := retainedJSON{Topic: m.Topic, QoS: m.QoS, From: m.ClientID, ReceivedAt: m.ReceivedAt, ExpiresAt: optTime(m.ExpiresAt)}
	r.Payload, r.PayloadEncoding = encodedPayload(m.Payload)
	if m.ContentType != "" || m.ResponseTopic != "" || len(m.UserProperties) > 0 || m.PayloadFormat != 0 {
		p := &Properties{ContentType: m.ContentType, ResponseTopic: m.ResponseTopic, PayloadFormat: m.PayloadFormat}
		for _, u := range m.UserProperties {
			if p.UserProperties == nil {
				p.UserProperties = map[string]string{}
			}
			p.UserProperties[u.Key] = u.Value
		}
		r.Properties = p
	}
	return r
}

// listRetained answers GET /api/v1/retained?filter=&limit=&cursor=.
func (a *API) listRetained(w http.ResponseWriter, r *http.Request) error {
	limit, after, err := pageParams(r)
	if err != nil {
		return err
	}
	ms, more, err := a.o.Broker.RetainedMessages(broker.RetainedQuery{Filter: r.URL.Query().Get("filter"), After: after, Limit: limit})
	if errors.Is(err, broker.ErrBadFilter) {
		return badField("filter", "%v", err)
	} else if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newPage(convertAll(ms, toRetainedJSON), limit, more, func(r retainedJSON) string { return r.Topic }))
	return nil
}

func (a *API) getRetained(w http.ResponseWriter, r *http.Request) error {
	t := r.PathValue("topic")
	m, ok := a.o.Broker.Retained(t)
	if !ok {
		return errorf(http.StatusNotFound, CodeRetainedNotFound, "no retained message on %q", t)
	}
	writeJSON(w, http.StatusOK, toRetainedJSON(m))
	return nil
}

func (a *API) deleteRetained(w http.ResponseWriter, r *http.Request) error {
	t := r.PathValue("topic")
	if !a.o.Broker.DeleteRetained(t) {
		return errorf(http.StatusNotFound, CodeRetainedNotFound, "no retained message on %q", t)
	}
	a.log.Info("retained message deleted through the API", "topic", t)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
