package rule

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/msg"
)

func newTestRunner(t *testing.T, dir string, pub Publisher) *Runner {
	t.Helper()
	r := NewRunner(Options{Publisher: pub, DataDir: dir, Now: func() time.Time { return fixedNow }})
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r
}

var lowBattery = Rule{
	ID:      "door_lock_low_battery",
	SQL:     `SELECT clientid, payload.battery AS battery FROM "devices/+/state" WHERE payload.battery < 20`,
	Enabled: true,
	Actions: []ActionSpec{{"type": "republish", "topic": "alarms/${clientid}", "qos": 1.0}},
}

func TestRunner_persistsAPIRules(t *testing.T) {
	dir := t.TempDir()
	r := newTestRunner(t, dir, testutil.NewPublisher())
	require.NoError(t, r.AddConfigRule(Rule{ID: "from_file", SQL: `SELECT * FROM "a/#"`, Enabled: true}))
	require.NoError(t, r.Start())
	info, err := r.Create(lowBattery)
	require.NoError(t, err)
	require.Equal(t, SourceAPI, info.Source)
	_, err = r.Disable(lowBattery.ID)
	require.NoError(t, err)
	require.NoError(t, r.Close(context.Background()))

	// A new runner on the same data dir finds the API rule, disabled.
	r2 := newTestRunner(t, dir, testutil.NewPublisher())
	require.NoError(t, r2.AddConfigRule(Rule{ID: "from_file", SQL: `SELECT * FROM "a/#"`, Enabled: true}))
	require.NoError(t, r2.Start())
	list := r2.List()
	require.Len(t, list, 2)
	require.Equal(t, "from_file", list[0].ID)
	require.Equal(t, SourceConfig, list[0].Source)
	require.Equal(t, lowBattery.ID, list[1].ID)
	require.False(t, list[1].Enabled)
	require.Equal(t, lowBattery.SQL, list[1].SQL)

	// Configuration rules are read-only; API rules can be deleted.
	_, err = r2.Update(Rule{ID: "from_file", SQL: `SELECT * FROM "b"`})
	require.ErrorIs(t, err, ErrReadOnly)
	_, err = r2.Disable("from_file")
	require.ErrorIs(t, err, ErrReadOnly)
	require.ErrorIs(t, r2.Delete("from_file"), ErrReadOnly)
	require.NoError(t, r2.Delete(lowBattery.ID))
	require.ErrorIs(t, r2.Delete(lowBattery.ID), ErrNotFound)
	stored, err := (&fileStore{path: dir + "/" + StoreFile}).load()
	require.NoError(t, err)
	require.Empty(t, stored)
}

func TestRunner_refusals(t *testing.T) {
	r := newTestRunner(t, t.TempDir(), testutil.NewPublisher())
	require.NoError(t, r.Start())
	tests := []struct {
		name string
		def  Rule
		is   error
		msg  string
	}{
		{"unknown function", Rule{ID: "a", SQL: `SELECT lowr(clientid) FROM "t"`}, ErrInvalid,
			"rule a: unknown function 'lowr' at 1:8"},
		{"syntax on line 2", Rule{ID: "a", SQL: "SELECT a\nFROM t"}, ErrSyntax, "at 2:6"},
		{"bad id", Rule{ID: "a b", SQL: `SELECT * FROM "t"`}, ErrBadRule, "id"},
		{"no sql", Rule{ID: "a"}, ErrBadRule, "sql is required"},
		{"unknown action", Rule{ID: "a", SQL: `SELECT * FROM "t"`, Actions: []ActionSpec{{"type": "kafka"}}},
			ErrBadRule, `unknown type "kafka"`},
		{"unknown action key", Rule{ID: "a", SQL: `SELECT * FROM "t"`,
			Actions: []ActionSpec{{"type": "republish", "topic": "x", "qso": 1}}}, ErrBadRule, `unknown key "qso"`},
		{"bad qos", Rule{ID: "a", SQL: `SELECT * FROM "t"`,
			Actions: []ActionSpec{{"type": "republish", "topic": "x", "qos": 3}}}, ErrBadRule, "qos"},
		{"bad template", Rule{ID: "a", SQL: `SELECT * FROM "t"`,
			Actions: []ActionSpec{{"type": "republish", "topic": "x/${clientid"}}}, ErrSyntax, "unterminated"},
		{"republish into own FROM", Rule{ID: "a", SQL: `SELECT * FROM "devices/#"`,
			Actions: []ActionSpec{{"type": "republish", "topic": "devices/${clientid}/alarm"}}}, ErrBadRule,
			"can match the rule's own FROM"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.Create(tc.def)
			require.ErrorIs(t, err, tc.is)
			require.ErrorContains(t, err, tc.msg)
		})
	}
	require.Empty(t, r.List())
	_, err := r.Create(lowBattery)
	require.NoError(t, err)
	_, err = r.Create(lowBattery)
	require.ErrorIs(t, err, ErrExists)
}

func TestRunner_evaluatesAndCounts(t *testing.T) {
	pub := testutil.NewPublisher()
	r := newTestRunner(t, "", pub)
	require.NoError(t, r.Start())
	_, err := r.Create(lowBattery)
	require.NoError(t, err)
	for _, battery := range []string{"83.4", "15", `"x"`} { // "x" < 20 fails, as in EMQX
		r.HandleEvent(publishEvent("lock-1", "devices/lock-1/state", `{"battery":`+battery+`}`, 1))
	}
	r.HandleEvent(publishEvent("lock-1", "devices/lock-1/state", `{"battery":`, 1)) // not JSON: fails
	r.HandleEvent(publishEvent("lock-1", "other", `{"battery":1}`, 1))              // no match
	m := <-pub
	require.Equal(t, "alarms/lock-1", m.Topic)
	require.Equal(t, byte(1), m.QoS)
	require.Equal(t, msg.Origin{Kind: msg.OriginRule, Name: "door_lock_low_battery"}, m.Origin)
	require.JSONEq(t, `{"clientid":"lock-1","battery":15}`, string(m.Payload))
	require.Eventually(t, func() bool {
		mt, _ := r.Metrics(lowBattery.ID)
		return mt.Matched == 4 && mt.NoResult+mt.Failed == 3
	}, 10*time.Second, 5*time.Millisecond)
	mt, err := r.Metrics(lowBattery.ID)
	require.NoError(t, err)
	require.Equal(t, Metrics{Matched: 4, Passed: 1, NoResult: 1, Failed: 2, ActionsSuccess: 1}, mt)

	r.tick(fixedNow)
	r.tick(fixedNow.Add(2 * time.Second))
	mt, _ = r.Metrics(lowBattery.ID)
	require.Zero(t, mt.Rate)
}

func publishEvent(client, topic, payload string, qos byte) msg.Event {
	m := &msg.Message{ID: 1, Topic: topic, Payload: []byte(payload), QoS: qos, ClientID: client,
		ReceivedAt: fixedNow, Origin: msg.Origin{Kind: msg.OriginClient}}
	return msg.Event{Kind: msg.EventMessagePublished, Time: fixedNow, ClientID: client, Message: m, QoS: qos}
}

// A message a rule republished is not evaluated again by a rule of its
// origin chain, and a chain longer than MaxChain is refused.
func TestEngine_originChain(t *testing.T) {
	e := NewEngine(EngineOptions{Now: func() time.Time { return fixedNow }})
	require.NoError(t, e.Add(Rule{ID: "a", SQL: `SELECT topic FROM "x/#"`, Enabled: true}))
	require.NoError(t, e.Add(Rule{ID: "b", SQL: `SELECT topic FROM "x/#"`, Enabled: true}))
	ev := publishEvent("", "x/1", "", 0)
	ev.Message.Origin = msg.Origin{Kind: msg.OriginRule, Name: "a"}
	outs := e.Eval(&ev)
	require.Len(t, outs, 1)
	require.Equal(t, "b", outs[0].RuleID)

	origin, err := nextOrigin(msg.ParseOrigin("rule:a"), "b")
	require.NoError(t, err)
	require.Equal(t, "rule:a,b", origin.String())
	require.Equal(t, []string{"a", "b"}, origin.RuleChain())
	_, err = nextOrigin(msg.ParseOrigin("rule:r1,r2,r3,r4,r5,r6,r7,r8"), "r9")
	require.True(t, errors.Is(err, errChainTooLong))
}

// TestRunner_inlineEvaluation: HandleEventInline runs the matching rules'
// actions before it returns, on the caller's goroutine, with the caller's
// context; HandleEvent does the same for queued kinds. Close waits for an
// evaluation under way.
func TestRunner_inlineEvaluation(t *testing.T) {
	type key struct{}
	got := make(chan context.Context, 1)
	release := make(chan struct{})
	reg := NewRegistry()
	require.NoError(t, reg.Register("probe", func(ActionContext, ActionSpec) (Action, error) {
		return actionFunc(func(ctx context.Context, _ Output) error {
			got <- ctx
			<-release
			return nil
		}), nil
	}))
	r := NewRunner(Options{Registry: reg})
	require.NoError(t, r.AddConfigRule(Rule{ID: "p", SQL: `SELECT * FROM "t"`, Enabled: true,
		Actions: []ActionSpec{{"type": "probe"}}}))
	require.NoError(t, r.Start())
	ctx := context.WithValue(context.Background(), key{}, "broker")
	ev := publishEvent("c", "t", "", 1)
	done := make(chan struct{})
	go func() { r.HandleEventInline(ctx, &ev); close(done) }()
	require.Equal(t, "broker", (<-got).Value(key{}), "the action gets the emitter's context")
	closed := make(chan error, 1)
	go func() { closed <- r.Close(context.Background()) }()
	select {
	case <-done:
		t.Fatal("HandleEventInline returned before its action finished")
	case <-closed:
		t.Fatal("Close returned while an evaluation was under way")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	<-done
	require.NoError(t, <-closed)
	require.Equal(t, Stats{Inline: 1}, r.Stats())
	r.HandleEventInline(ctx, &ev)
	require.Equal(t, Stats{Inline: 1}, r.Stats(), "nothing is evaluated after Close")
}

type actionFunc func(context.Context, Output) error

func (f actionFunc) Do(ctx context.Context, o Output) error { return f(ctx, o) }

func TestFiltersOverlap(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"alarms/#", "devices/+/state", false},
		{"devices/#", "devices/+/state", true},
		{"a/b", "a/+", true},
		{"a/b", "a/c", false},
		{"a", "a/#", true},
		{"a/b/c", "a/b", false},
		{"+/x", "a/+", true},
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, filtersOverlap(tc.a, tc.b), "%s vs %s", tc.a, tc.b)
		require.Equal(t, tc.want, filtersOverlap(tc.b, tc.a), "%s vs %s", tc.b, tc.a)
	}
	require.Equal(t, "alarms/#", templatePattern("alarms/${clientid}"))
	require.Equal(t, "a/b", templatePattern("a/b"))
}

func TestRunner_wantsEventOnlyForEnabledRules(t *testing.T) {
	r := newTestRunner(t, t.TempDir(), testutil.NewPublisher())
	require.NoError(t, r.Start())
	require.False(t, r.WantsEvent(msg.EventMessagePublished), "no rules: no message events")
	_, err := r.Create(lowBattery)
	require.NoError(t, err)
	require.True(t, r.WantsEvent(msg.EventMessagePublished))
	require.False(t, r.WantsEvent(msg.EventClientConnected), "no rule reads client events")
	_, err = r.Disable(lowBattery.ID)
	require.NoError(t, err)
	require.False(t, r.WantsEvent(msg.EventMessagePublished), "a disabled rule wants nothing")
}

// TestRunner_windowOutputsReachActions: a closed window's output goes to
// the rule's actions like any other output, driven by the runner's own
// ticker and its (injected) clock; the rule's metrics count it.
func TestRunner_windowOutputsReachActions(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2024, 4, 17, 4, 0, 30, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	got := make(chan Output, 4)
	reg := NewRegistry()
	require.NoError(t, reg.Register("probe", func(ActionContext, ActionSpec) (Action, error) {
		return actionFunc(func(_ context.Context, o Output) error { got <- o; return nil }), nil
	}))
	r := NewRunner(Options{Registry: reg, Now: clock, WindowTick: 5 * time.Millisecond})
	require.NoError(t, r.AddConfigRule(Rule{ID: "avg", Enabled: true, Actions: []ActionSpec{{"type": "probe"}},
		SQL: `SELECT clientid, avg(payload.speed) AS speed FROM "v/+" GROUP BY clientid, TUMBLINGWINDOW(mi, 1)`}))
	require.NoError(t, r.Start())
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	for _, p := range []string{`{"speed":10}`, `{"speed":20}`} {
		ev := publishEvent("car", "v/car", p, 1)
		r.HandleEventInline(context.Background(), &ev)
	}
	select {
	case o := <-got:
		t.Fatalf("output before the window ended: %v", o.Map())
	case <-time.After(20 * time.Millisecond): // a few ticks
	}
	mu.Lock()
	now = now.Add(30 * time.Second)
	mu.Unlock()
	select {
	case o := <-got:
		require.Equal(t, map[string]any{"clientid": "car", "speed": 15.0}, o.Map())
		require.Equal(t, "avg", o.RuleID)
	case <-time.After(10 * time.Second):
		t.Fatal("the window's output never reached the action")
	}
	require.Eventually(t, func() bool {
		m, err := r.Metrics("avg")
		return err == nil && m.WindowOutputs == 1 && m.ActionsSuccess == 1 && m.Passed == 2
	}, 10*time.Second, 5*time.Millisecond)
}
