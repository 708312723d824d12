package api

import (
	"context"
	"net/http"
	"time"

	"github.com/iothub-dev/iothub/msg"
)

// UpstreamReporter reports the edge link and the centre's edge services
// for GET /api/v1/upstream (docs/edge.md).
type UpstreamReporter interface {
	// UpstreamStatus returns the status, a value to encode as JSON (the
	// Upstream schema of openapi.json).
	UpstreamStatus() any
}

// CommandRelay hands a command for a device this hub has no session for
// to the edge hubs behind it (docs/edge.md).
type CommandRelay interface {
	// RelayCommand sends m to clientID through the edge that has its
	// session and waits, up to timeout, as wait says (none, delivered,
	// acked). found is false when no edge has a session for the device.
	RelayCommand(ctx context.Context, clientID string, m *msg.Message, wait string, timeout time.Duration) (rc RelayedCommand, found bool, err error)
}

// RelayedCommand is what the edge answered for a relayed command.
type RelayedCommand struct {
	// Edge is the edge's origin name.
	Edge string
	// Status is acked, delivered, sent, queued, dropped or timeout.
	Status      string
	Reason      string
	ID          uint64
	DeliveredAt *time.Time
	AckedAt     *time.Time
}

func (a *API) upstreamRoutes() []route {
	return []route{{"GET /api/v1/upstream", a.upstreamStatus}}
}

// upstreamStatus answers GET /api/v1/upstream.
func (a *API) upstreamStatus(w http.ResponseWriter, _ *http.Request) error {
	var u UpstreamReporter
	if a.o.Upstream != nil {
		u = a.o.Upstream()
	}
	if u == nil {
		return errorf(http.StatusServiceUnavailable, CodeUnavailable, "upstream status is not available")
	}
	writeJSON(w, http.StatusOK, u.UpstreamStatus())
	return nil
}

// relayCommand asks the edges for a device with no session here; it
// reports whether an edge had it (res then holds its answer).
func (a *API) relayCommand(ctx context.Context, res *commandResult, m *msg.Message, wait string, timeout time.Duration) (bool, error) {
	if a.o.Relay == nil {
		return false, nil
	}
	rc, found, err := a.o.Relay.RelayCommand(ctx, res.ClientID, m, wait, timeout)
	if err != nil || !found {
		return false, err
	}
	res.Edge, res.Status, res.Reason, res.DeliveredAt, res.AckedAt = rc.Edge, rc.Status, rc.Reason, rc.DeliveredAt, rc.AckedAt
	if rc.ID != 0 {
		res.ID = rc.ID
	}
	return true, nil
}
