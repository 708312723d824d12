package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/msg"
)

// Bounds of the live message streams.
const (
	maxStreams        = 16               // at once, on this hub
	streamBuffer      = 256              // messages waiting to be written, per stream
	streamMaxPayload  = 4096             // payload bytes shown per message
	streamMaxDuration = 30 * time.Minute // then the browser reconnects
	streamHeartbeat   = 15 * time.Second
)

// liveState counts the live streams and what they dropped.
type liveState struct {
	streams atomic.Int64
	dropped atomic.Uint64
}

// LiveDropped returns how many messages the live streams dropped because
// their reader was slower than the messages came (for /metrics).
func (a *API) LiveDropped() uint64 { return a.live.dropped.Load() }

// liveMessage is one message of a stream.
type liveMessage struct {
	Topic           string    `json:"topic"`
	Payload         string    `json:"payload"`
	PayloadEncoding string    `json:"payload_encoding"`
	Truncated       bool      `json:"truncated,omitempty"`
	QoS             byte      `json:"qos"`
	Retain          bool      `json:"retain"`
	From            string    `json:"from,omitempty"`
	Origin          string    `json:"origin,omitempty"`
	ReceivedAt      time.Time `json:"received_at"`
}

func toLiveMessage(m *msg.Message) liveMessage {
	p := m.Payload
	lm := liveMessage{Topic: m.Topic, QoS: m.QoS, Retain: m.Retain, From: m.ClientID, Origin: m.Origin.String(), ReceivedAt: m.ReceivedAt}
	if len(p) > streamMaxPayload {
		p, lm.Truncated = p[:streamMaxPayload], true
	}
	lm.Payload, lm.PayloadEncoding = encodedPayload(p)
	return lm
}

// streamMessages answers GET /api/v1/messages/stream?filter=… with a
// Server-Sent Events stream: an event "message" per routed message whose
// topic matches the filter, "dropped" with the running count when the
// reader fell behind (the stream's buffer is bounded), and a comment line
// every 15 s. It ends after 30 minutes (EventSource reconnects).
func (a *API) streamMessages(w http.ResponseWriter, r *http.Request) error {
	filter := r.URL.Query().Get("filter")
	if filter == "" {
		return badField("filter", "required: a topic filter such as devices/+/state or #")
	}
	if a.live.streams.Add(1) > maxStreams {
		a.live.streams.Add(-1)
		return errorf(http.StatusServiceUnavailable, CodeTooManyStreams, "this hub already serves %d live message streams", maxStreams)
	}
	defer a.live.streams.Add(-1)
	ch := make(chan *msg.Message, streamBuffer)
	var dropped atomic.Uint64
	cancel, err := a.o.Broker.Tap(filter, func(m *msg.Message) {
		select {
		case ch <- m:
		default:
			dropped.Add(1)
			a.live.dropped.Add(1)
		}
	})
	switch {
	case errors.Is(err, broker.ErrBadFilter):
		return badField("filter", "%q is not a valid topic filter", filter)
	case errors.Is(err, broker.ErrTooManyTaps):
		return errorf(http.StatusServiceUnavailable, CodeTooManyStreams, "too many observers of the message flow")
	case err != nil:
		return err
	}
	defer cancel()
	rc := http.NewResponseController(w)
	// A stream outlives the server's read and write timeouts
	// (api.read_timeout; TestStreamMessages_outlivesReadTimeout).
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = fmt.Fprint(w, ": streaming\n\n") // the filter is not echoed: it may hold a newline
	if err := rc.Flush(); err != nil {
		return nil // the client went away
	}
	a.pumpStream(r, w, rc, ch, &dropped)
	return nil
}

// pumpStream writes the stream's events until the client leaves or the
// stream's time is up.
func (a *API) pumpStream(r *http.Request, w http.ResponseWriter, rc *http.ResponseController, ch <-chan *msg.Message, dropped *atomic.Uint64) {
	beat := time.NewTicker(streamHeartbeat)
	defer beat.Stop()
	end := time.NewTimer(streamMaxDuration)
	defer end.Stop()
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	var told uint64
	for {
		select {
		case <-r.Context().Done():
			return
		case <-end.C:
			return
		case <-beat.C:
			_, _ = fmt.Fprint(w, ": ping\n\n")
		case m := <-ch:
			_, _ = fmt.Fprint(w, "event: message\ndata: ")
			_ = enc.Encode(toLiveMessage(m)) // ends with the newline of "data:"
			_, _ = fmt.Fprint(w, "\n")
			for len(ch) > 0 && len(ch) < streamBuffer { // batch what is queued into one flush
				_, _ = fmt.Fprint(w, "event: message\ndata: ")
				_ = enc.Encode(toLiveMessage(<-ch))
				_, _ = fmt.Fprint(w, "\n")
			}
		}
		if n := dropped.Load(); n != told {
			told = n
			_, _ = fmt.Fprintf(w, "event: dropped\ndata: {\"dropped\":%d}\n\n", n)
		}
		if rc.Flush() != nil {
			return
		}
	}
}
