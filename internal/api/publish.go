package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// maxBatch caps the messages of one POST /api/v1/publish/batch.
const maxBatch = 1000

// publishRequest is the body of POST /api/v1/publish and one element of
// a batch.
type publishRequest struct {
	Topic string `json:"topic"`
	message
}

// publishResult is the answer to one publish.
type publishResult struct {
	// ID is the hub's message id (for tracing).
	ID uint64 `json:"id"`
	// Routed is the number of sessions the message was delivered or
	// queued to.
	Routed int `json:"routed"`
}

// batchResult is one element of a batch answer: a result or an error.
type batchResult struct {
	*publishResult
	Error *errorBody `json:"error,omitempty"`
}

func (a *API) publish(w http.ResponseWriter, r *http.Request) error {
	var req publishRequest
	if err := decodeBody(r.Body, &req); err != nil {
		return err
	}
	res, err := a.publishOne(r, &req, "")
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (a *API) publishOne(r *http.Request, req *publishRequest, prefix string) (*publishResult, error) {
	if req.Topic == "" {
		return nil, badField(prefix+"topic", "required")
	}
	if err := a.checkReserved(prefix+"topic", req.Topic); err != nil {
		return nil, err
	}
	m, err := req.toMessage(req.Topic, 0, time.Now())
	if err != nil {
		return nil, prefixed(err, prefix)
	}
	n, err := a.o.Broker.Publish(r.Context(), m)
	if err != nil {
		return nil, badField(prefix+"topic", "%v", err)
	}
	return &publishResult{ID: m.ID, Routed: n}, nil
}

// prefixed puts prefix before the field an *Error names (a batch index).
func prefixed(err error, prefix string) error {
	var e *Error
	if prefix == "" || !errors.As(err, &e) || e.Field == "" {
		return err
	}
	c := *e
	c.Message = prefix + c.Message
	c.Field = prefix + c.Field
	return &c
}

// publishBatch publishes each message in order; one that fails does not
// stop the others: its element of the answer holds the error.
func (a *API) publishBatch(w http.ResponseWriter, r *http.Request) error {
	var reqs []publishRequest
	if err := decodeBody(r.Body, &reqs); err != nil {
		return err
	}
	if len(reqs) > maxBatch {
		return errorf(http.StatusBadRequest, CodeInvalidField, "%d messages: a batch holds at most %d", len(reqs), maxBatch)
	}
	out := make([]batchResult, len(reqs))
	for i := range reqs {
		res, err := a.publishOne(r, &reqs[i], fmt.Sprintf("[%d].", i))
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				return err
			}
			out[i].Error = &errorBody{Code: e.Code, Message: e.Message, Field: e.Field}
			continue
		}
		out[i].publishResult = res
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": out})
	return nil
}

// checkReserved refuses a '$' topic that no hub feature takes (see
// Options.HubTopic): $SYS and the other namespaces of the hub are written
// by the hub alone.
func (a *API) checkReserved(field, topicName string) error {
	if !strings.HasPrefix(topicName, "$") || a.o.HubTopic != nil && a.o.HubTopic(topicName) {
		return nil
	}
	return &Error{Status: http.StatusForbidden, Code: CodeReservedTopic, Field: field,
		Message: fmt.Sprintf("%s: %q is reserved for the hub: topics starting with $ cannot be published through the API", field, topicName)}
}
