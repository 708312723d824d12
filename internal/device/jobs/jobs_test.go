package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/device/thing"
	"github.com/iothub-dev/iothub/msg"
	"github.com/iothub-dev/iothub/storage/memstore"
)

// recorder keeps what the service published.
type recorder struct {
	mu   sync.Mutex
	msgs []*msg.Message
}

func (r *recorder) Publish(_ context.Context, m *msg.Message) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, m)
	return 1, nil
}

// take returns and forgets the payloads published on topic.
func (r *recorder) take(topic string) []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []map[string]any
	var kept []*msg.Message
	for _, m := range r.msgs {
		if m.Topic != topic {
			kept = append(kept, m)
			continue
		}
		var v map[string]any
		_ = json.Unmarshal(m.Payload, &v)
		out = append(out, v)
	}
	r.msgs = kept
	return out
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

type groups map[string][]string

func (g groups) Members(name string) ([]string, error) { return g[name], nil }

func newService(t *testing.T) (*Service, *recorder, *clock) {
	t.Helper()
	rec := &recorder{}
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	s, err := New(Options{Store: memstore.New(), Publisher: rec, Now: c.now, SweepInterval: time.Hour,
		Groups: groups{"fleet": {"lock-2", "lock-1"}}})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close(context.Background())) })
	return s, rec, c
}

// device sends a request as lock would and runs it at once.
func device(s *Service, name, rest, payload string) {
	t, _ := thing.Parse(thing.Prefix + name + "/jobs/" + rest)
	s.serve(&deviceRequest{t: t, payload: []byte(payload)})
}

func TestJobs_rolloutRunTimeoutComplete(t *testing.T) {
	s, rec, c := newService(t)
	info, err := s.Create(CreateRequest{ID: "fw-1", Document: json.RawMessage(`{"operation":"update","version":"1.2"}`),
		Groups: []string{"fleet"}, Rollout: Rollout{MaximumPerMinute: 1}, InProgressTimeout: Duration(10 * time.Minute)})
	require.NoError(t, err)
	require.Equal(t, []string{"lock-1", "lock-2"}, info.Targets)
	require.Equal(t, 1, info.RolledOut, "one execution a minute")
	next := rec.take("$aws/things/lock-1/jobs/notify-next")
	require.Len(t, next, 1)
	ex := next[0]["execution"].(map[string]any)
	require.Equal(t, "QUEUED", ex["status"])
	require.Equal(t, map[string]any{"operation": "update", "version": "1.2"}, ex["jobDocument"])
	require.Len(t, rec.take("$aws/things/lock-1/jobs/notify"), 1)

	// The SDK's flow: $next/get, then update IN_PROGRESS, then SUCCEEDED.
	device(s, "lock-1", "$next/get", `{}`)
	got := rec.take("$aws/things/lock-1/jobs/$next/get/accepted")
	require.Equal(t, "fw-1", got[0]["execution"].(map[string]any)["jobId"])
	device(s, "lock-1", "fw-1/update", `{"status":"IN_PROGRESS","statusDetails":{"step":"download"},"expectedVersion":1,"includeJobExecutionState":true,"clientToken":"u1"}`)
	acc := rec.take("$aws/things/lock-1/jobs/fw-1/update/accepted")
	require.Equal(t, map[string]any{"status": "IN_PROGRESS", "statusDetails": map[string]any{"step": "download"}, "versionNumber": 2.0}, acc[0]["executionState"])
	require.Equal(t, "u1", acc[0]["clientToken"])
	require.Empty(t, rec.take("$aws/things/lock-1/jobs/notify-next"), "the next job did not change")
	list := rec.take("$aws/things/lock-1/jobs/notify")
	require.Len(t, list, 1, "QUEUED → IN_PROGRESS changes the list (AWS's ListNotification)")
	require.Contains(t, list[0]["jobs"], "IN_PROGRESS")
	device(s, "lock-1", "fw-1/update", `{"status":"IN_PROGRESS","statusDetails":{"step":"flash"}}`)
	require.Len(t, rec.take("$aws/things/lock-1/jobs/fw-1/update/accepted"), 1)
	require.Empty(t, rec.take("$aws/things/lock-1/jobs/notify"), "progress within IN_PROGRESS is no list change")

	device(s, "lock-1", "fw-1/update", `{"status":"IN_PROGRESS","expectedVersion":1}`)
	rej := rec.take("$aws/things/lock-1/jobs/fw-1/update/rejected")
	require.Equal(t, "VersionMismatch", rej[0]["code"])
	require.Equal(t, 3.0, rej[0]["executionState"].(map[string]any)["versionNumber"])

	device(s, "lock-1", "fw-1/update", `{"status":"SUCCEEDED"}`)
	require.Len(t, rec.take("$aws/things/lock-1/jobs/fw-1/update/accepted"), 1)
	next = rec.take("$aws/things/lock-1/jobs/notify-next")
	require.Len(t, next, 1)
	require.NotContains(t, next[0], "execution", "no job left")
	device(s, "lock-1", "fw-1/update", `{"status":"IN_PROGRESS"}`)
	require.Equal(t, "InvalidStateTransition", rec.take("$aws/things/lock-1/jobs/fw-1/update/rejected")[0]["code"])
	require.Len(t, rec.take("$aws/events/jobExecution/fw-1/succeeded"), 1)

	// A minute later the second thing gets its execution; it starts and
	// times out after the job's in-progress timeout.
	c.t = c.t.Add(time.Minute)
	s.Tick()
	require.Len(t, rec.take("$aws/things/lock-2/jobs/notify-next"), 1)
	device(s, "lock-2", "start-next", `{"statusDetails":{"step":"1"},"clientToken":"sn"}`)
	sn := rec.take("$aws/things/lock-2/jobs/start-next/accepted")
	require.Equal(t, "IN_PROGRESS", sn[0]["execution"].(map[string]any)["status"])
	c.t = c.t.Add(11 * time.Minute)
	s.Tick()
	exs := s.ThingExecutions("lock-2")
	require.Equal(t, TimedOut, exs[0].Status)
	got2, err := s.Get("fw-1")
	require.NoError(t, err)
	require.Equal(t, JobCompleted, got2.Status)
	require.Equal(t, map[string]int{Succeeded: 1, TimedOut: 1}, got2.Executions)
	require.Len(t, rec.take("$aws/events/job/fw-1/completed"), 1)

	// Everything survives a restart.
	s2, err := New(Options{Store: s.o.Store, Publisher: rec, Now: c.now, SweepInterval: time.Hour})
	require.NoError(t, err)
	defer func() { require.NoError(t, s2.Close(context.Background())) }()
	again, err := s2.Get("fw-1")
	require.NoError(t, err)
	require.Equal(t, got2.Executions, again.Executions)
}

func TestJobs_abortAndCancel(t *testing.T) {
	s, rec, _ := newService(t)
	_, err := s.Create(CreateRequest{ID: "risky", Document: json.RawMessage(`{"operation":"x"}`), Targets: []string{"a", "b", "c", "d"},
		Abort: []AbortCriterion{{FailureType: "ALL", ThresholdPercentage: 50, MinExecuted: 2}}})
	require.NoError(t, err)
	device(s, "a", "risky/update", `{"status":"FAILED"}`)
	got, _ := s.Get("risky")
	require.Equal(t, JobInProgress, got.Status, "below min_executed")
	device(s, "b", "risky/update", `{"status":"IN_PROGRESS"}`)
	device(s, "c", "risky/update", `{"status":"REJECTED"}`)
	got, _ = s.Get("risky")
	require.Equal(t, JobCanceled, got.Status)
	require.Contains(t, got.Comment, "abort criteria met")
	require.Equal(t, map[string]int{Failed: 1, Rejected: 1, InProgress: 1, Canceled: 1}, got.Executions, "queued ones are canceled, in-progress ones are not")
	require.Len(t, rec.take("$aws/events/job/risky/canceled"), 1)
	_, err = s.Cancel("risky", true, "")
	require.ErrorIs(t, err, ErrTerminal)

	_, err = s.Create(CreateRequest{ID: "two", Document: json.RawMessage(`{}`), Targets: []string{"a"}})
	require.NoError(t, err)
	device(s, "a", "get", `{"clientToken":"g"}`)
	pend := rec.take("$aws/things/a/jobs/get/accepted")[0]
	require.Len(t, pend["queuedJobs"], 1)
	require.Equal(t, "g", pend["clientToken"])
	info, err := s.Cancel("two", false, "not needed")
	require.NoError(t, err)
	require.Equal(t, map[string]int{Canceled: 1}, info.Executions)
}

func TestJobs_invalid(t *testing.T) {
	s, rec, _ := newService(t)
	for _, r := range []CreateRequest{
		{ID: "", Document: json.RawMessage(`{}`), Targets: []string{"a"}},
		{ID: "x", Document: json.RawMessage(`[]`), Targets: []string{"a"}},
		{ID: "x", Document: json.RawMessage(`{}`)},
		{ID: "x", Document: json.RawMessage(`{}`), Targets: []string{"a/b"}},
		{ID: "x", Document: json.RawMessage(`{}`), Targets: []string{"a"}, Rollout: Rollout{MaximumPerMinute: 5000}},
		{ID: "x", Document: json.RawMessage(`{}`), Targets: []string{"a"}, Abort: []AbortCriterion{{FailureType: "OOPS", ThresholdPercentage: 1, MinExecuted: 1}}},
	} {
		_, err := s.Create(r)
		require.ErrorIs(t, err, ErrInvalid, "%+v", r)
	}
	device(s, "a", "nope/what/ever", `{}`)
	require.Equal(t, "InvalidTopic", rec.take("$aws/things/a/jobs/nope/what/ever/rejected")[0]["code"])
	for _, bad := range []string{`{`, "{\"clientToken\":\"\xff\"}"} {
		device(s, "a", "get", bad)
		require.Equal(t, "InvalidJson", rec.take("$aws/things/a/jobs/get/rejected")[0]["code"], bad)
	}
	device(s, "a", "x/update", `{"status":"IN_PROGRESS","statusDetails":{"progress":50},"clientToken":"sd"}`)
	rej := rec.take("$aws/things/a/jobs/x/update/rejected")[0]
	require.Equal(t, "InvalidRequest", rej["code"], "statusDetails values are strings (AWS)")
	require.Equal(t, "sd", rej["clientToken"])
	device(s, "a", "missing/get", ``)
	require.Equal(t, "ResourceNotFound", rec.take("$aws/things/a/jobs/missing/get/rejected")[0]["code"])
	device(s, "a", "$next/get", ``)
	require.NotContains(t, rec.take("$aws/things/a/jobs/$next/get/accepted")[0], "execution")
	require.False(t, s.HandlesTopic(thing.Topic{Thing: "a", Service: "jobs", Rest: "notify-next"}))
	require.False(t, s.HandlesTopic(thing.Topic{Thing: "a", Service: "jobs", Rest: "x/get/accepted"}))
	require.True(t, s.HandlesTopic(thing.Topic{Thing: "a", Service: "jobs", Rest: "x/get"}))
}

// TestJobs_listNotificationHolds15: jobs/notify lists at most 15 pending
// executions (AWS's ListNotification); jobs/get lists them all.
func TestJobs_listNotificationHolds15(t *testing.T) {
	s, rec, _ := newService(t)
	for i := range 20 {
		_, err := s.Create(CreateRequest{ID: fmt.Sprintf("job-%02d", i), Document: json.RawMessage(`{}`), Targets: []string{"a"}})
		require.NoError(t, err)
	}
	list := rec.take("$aws/things/a/jobs/notify")
	require.Len(t, list, 20)
	require.Len(t, list[19]["jobs"].(map[string]any)["QUEUED"], 15)
	device(s, "a", "get", ``)
	require.Len(t, rec.take("$aws/things/a/jobs/get/accepted")[0]["queuedJobs"], 20)
}

// TestJobs_removeThing: a thing deleted from the registry has its pending
// executions REMOVED (with the thing's notifications and the execution
// events); a job whose last execution goes so completes.
func TestJobs_removeThing(t *testing.T) {
	s, rec, _ := newService(t)
	_, err := s.Create(CreateRequest{ID: "fw", Document: json.RawMessage(`{}`), Targets: []string{"a", "b"}})
	require.NoError(t, err)
	device(s, "a", "fw/update", `{"status":"SUCCEEDED"}`)
	device(s, "b", "fw/update", `{"status":"IN_PROGRESS"}`)
	rec.take("$aws/things/b/jobs/notify-next")
	require.Equal(t, 1, s.RemoveThing("b"))
	require.Equal(t, Removed, s.ThingExecutions("b")[0].Status)
	next := rec.take("$aws/things/b/jobs/notify-next")
	require.Len(t, next, 1)
	require.NotContains(t, next[0], "execution", "nothing left for b")
	require.Len(t, rec.take("$aws/events/jobExecution/fw/removed"), 1)
	got, err := s.Get("fw")
	require.NoError(t, err)
	require.Equal(t, JobCompleted, got.Status)
	require.Equal(t, map[string]int{Succeeded: 1, Removed: 1}, got.Executions)
	require.Zero(t, s.RemoveThing("b"), "nothing pending any more")
	require.Zero(t, s.RemoveThing("never-targeted"))
}
