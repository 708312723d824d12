package cluster

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestRetryForwards_releasedLostWaitsForReplay: a forward held for a lost
// node's routes stays pending between the Core's release of those routes
// and replayLost, however late its deadline passed. Finishing it there (its
// targets recomputed without the lost node) acknowledged the message
// without giving it to the session adopted from that node: acknowledged
// messages lost in rolling restarts under load.
func TestRetryForwards_releasedLostWaitsForReplay(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	n := &Node{opts: Options{Name: "a", ForwardTimeout: time.Second}, core: NewCore("a", time.Second),
		pending: make(map[uint64]*pendingForward)}
	step := func(at time.Time, ev Event) []Action { return n.core.Step(at, ev) }
	step(start, Event{Kind: EventHeartbeat, Node: "b", Incarnation: 1})
	step(start, Event{Kind: EventSnapshot, Node: "b", Incarnation: 1, Filters: []string{"roll/#"}})
	step(start, Event{Kind: EventLeave, Node: "b", Incarnation: 1})
	require.True(t, n.core.Holds("b"))

	var finished []error
	p := &pendingForward{subject: SubjectOf("roll/x"), expected: map[string]bool{lostPrefix + "b": true},
		acked: map[string]bool{}, deadline: start, attempts: 1,
		cbs: []func(error){func(err error) { finished = append(finished, err) }}}
	n.pending[1] = p

	// The report that releases b's routes; replayLost has not run yet.
	acts := step(start, Event{Kind: EventAdopted, Node: "a", Lost: "b"})
	require.Equal(t, []Action{{Kind: ActionRelease, Node: "b"}}, acts)
	require.False(t, n.core.Holds("b"))

	n.retryForwards(start.Add(time.Minute))
	require.Empty(t, finished, "the held forward is not finished before its replay")
	require.Same(t, p, n.pending[1])
	require.True(t, p.expected[lostPrefix+"b"], "still marked for replayLost")
}
