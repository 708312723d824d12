package rule

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/mqtt/topic"
	"github.com/iothub-dev/iothub/msg"
)

// TestEngine_candidatesFromTrie: the rules a published message is
// evaluated against, found with the topic trie, are exactly those with a
// FROM filter that topic.Match accepts, once each, in insertion order;
// disabled rules and rules of other kinds are left out.
func TestEngine_candidatesFromTrie(t *testing.T) {
	e := NewEngine(EngineOptions{})
	rules := []struct {
		id, from string
		enabled  bool
	}{
		{"a", `"devices/+/state"`, true},
		{"b", `"devices/#", "devices/+/state"`, true}, // two matching filters: once
		{"c", `"vehicles/#"`, true},
		{"d", `"devices/+/state"`, false},
		{"e", `"$events/client_connected"`, true},
		{"f", `"#"`, true},
		{"g", `"+/x/+"`, true},
	}
	filters := map[string][]string{}
	for _, r := range rules {
		require.NoError(t, e.Add(Rule{ID: r.id, SQL: "SELECT * FROM " + r.from, Enabled: r.enabled}))
		p, err := compileSQL("SELECT * FROM " + r.from)
		require.NoError(t, err)
		if r.enabled {
			filters[r.id] = p.filters
		}
	}
	for _, tp := range []string{"devices/l1/state", "devices/l1/command", "vehicles/v/t", "a/x/b", "$SYS/x", "x", "devices"} {
		t.Run(tp, func(t *testing.T) {
			var want []string
			for _, r := range rules {
				for _, f := range filters[r.id] {
					if topic.Match(f, tp) {
						want = append(want, r.id)
						break
					}
				}
			}
			ev := msg.Event{Kind: msg.EventMessagePublished, Message: &msg.Message{Topic: tp}}
			var got []string
			for _, i := range e.load().candidates(nil, &ev) {
				got = append(got, e.load().rules[i].def.ID)
			}
			require.Equal(t, fmt.Sprint(want), fmt.Sprint(got))
		})
	}
	ev := msg.Event{Kind: msg.EventClientConnected}
	require.Equal(t, []int{4}, e.load().candidates(nil, &ev), "other kinds: every rule that reads them")
}
