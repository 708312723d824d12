package topic

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// retainedMatch returns the sorted topics of r that filter matches.
func retainedMatch[V any](r *Retained[V], filter string) []string {
	var out []string
	r.Match(filter, func(topic string, _ V) bool {
		out = append(out, topic)
		return true
	})
	slices.Sort(out)
	return out
}

func TestRetained_Match_specCases(t *testing.T) {
	for _, tc := range matchCases {
		t.Run(tc.filter+"|"+tc.name, func(t *testing.T) {
			r := NewRetained[int]()
			r.Set(tc.name, 1)
			got := retainedMatch(r, tc.filter)
			if tc.want {
				require.Equal(t, []string{tc.name}, got)
			} else {
				require.Empty(t, got)
			}
		})
	}
}

func TestRetained_Match(t *testing.T) {
	topics := []string{
		"sport", "sport/", "sport/tennis", "sport/tennis/player1",
		"sport/tennis/player1/ranking", "sport/tennis/player2",
		"/finance", "/", "$SYS/monitor/Clients", "$SYS", "a//b",
		"devices/l1/state", "devices/l2/state", "devices/l1/command",
	}
	r := NewRetained[string]()
	for _, tp := range topics {
		r.Set(tp, "v:"+tp)
	}
	tests := []struct {
		filter string
		want   []string
	}{
		{"#", []string{"/", "/finance", "a//b", "devices/l1/command", "devices/l1/state", "devices/l2/state",
			"sport", "sport/", "sport/tennis", "sport/tennis/player1", "sport/tennis/player1/ranking", "sport/tennis/player2"}},
		{"sport/#", []string{"sport", "sport/", "sport/tennis", "sport/tennis/player1", "sport/tennis/player1/ranking", "sport/tennis/player2"}},
		{"sport/+", []string{"sport/", "sport/tennis"}},
		{"sport/tennis/+", []string{"sport/tennis/player1", "sport/tennis/player2"}},
		{"sport/tennis/player1/#", []string{"sport/tennis/player1", "sport/tennis/player1/ranking"}},
		{"+", []string{"sport"}},
		{"+/+", []string{"/", "/finance", "sport/", "sport/tennis"}},
		{"/+", []string{"/", "/finance"}},
		{"+/#", []string{"/", "/finance", "a//b", "devices/l1/command", "devices/l1/state", "devices/l2/state",
			"sport", "sport/", "sport/tennis", "sport/tennis/player1", "sport/tennis/player1/ranking", "sport/tennis/player2"}},
		{"$SYS/#", []string{"$SYS", "$SYS/monitor/Clients"}},
		{"$SYS/monitor/+", []string{"$SYS/monitor/Clients"}},
		{"+/monitor/Clients", nil},
		{"a/+/b", []string{"a//b"}},
		{"devices/+/state", []string{"devices/l1/state", "devices/l2/state"}},
		{"devices/l1/command", []string{"devices/l1/command"}},
		{"devices/l3/+", nil},
		{"nothing", nil},
		{"$share/g/#", nil},
		{"a/#/b", nil},
		{"", nil},
	}
	for _, tc := range tests {
		t.Run(tc.filter, func(t *testing.T) {
			require.Equal(t, tc.want, retainedMatch(r, tc.filter))
		})
	}

	t.Run("values", func(t *testing.T) {
		r.Match("devices/+/state", func(topic, v string) bool {
			require.Equal(t, "v:"+topic, v)
			return true
		})
	})
	t.Run("stop", func(t *testing.T) {
		calls := 0
		r.Match("#", func(string, string) bool { calls++; return false })
		require.Equal(t, 1, calls)
	})
	t.Run("visit may call back", func(t *testing.T) {
		r.Match("sport/#", func(topic, _ string) bool {
			_, ok := r.Get(topic)
			require.True(t, ok)
			return true
		})
	})
}

func TestRetained_SetGetDelete(t *testing.T) {
	r := NewRetained[int]()
	_, ok := r.Get("a/b")
	require.False(t, ok)
	require.False(t, r.Delete("a/b"))

	r.Set("a/b", 1)
	r.Set("a/b/c", 2)
	r.Set("a/b", 3) // replace
	require.Equal(t, 2, r.Len())
	v, ok := r.Get("a/b")
	require.True(t, ok)
	require.Equal(t, 3, v)
	_, ok = r.Get("a")
	require.False(t, ok, "an inner level holds no value")
	require.False(t, r.Delete("a"))

	require.True(t, r.Delete("a/b"))
	require.False(t, r.Delete("a/b"))
	require.Equal(t, 1, r.Len())
	require.NotNil(t, r.find("a/b"), "a/b still leads to a/b/c")
	v, ok = r.Get("a/b/c")
	require.True(t, ok)
	require.Equal(t, 2, v)

	require.True(t, r.Delete("a/b/c"))
	require.Zero(t, r.Len())
	require.Nil(t, r.root.children, "empty levels pruned")

	r.Set("", 9) // an empty name is one empty level, distinct from "/"
	r.Set("/", 8)
	v, _ = r.Get("")
	require.Equal(t, 9, v)
	v, _ = r.Get("/")
	require.Equal(t, 8, v)
	require.True(t, r.Delete("/"))
	require.True(t, r.Delete(""))
	require.Nil(t, r.root.children)
}

func TestRetained_Walk(t *testing.T) {
	r := NewRetained[int]()
	want := []string{"$SYS/x", "/", "a", "a/b", "c/d/e"}
	for i, tp := range want {
		r.Set(tp, i)
	}
	var got []string
	r.Walk(func(topic string, v int) bool {
		require.Equal(t, want[v], topic)
		got = append(got, topic)
		r.Delete(topic) // visit may write to the index
		return true
	})
	slices.Sort(got)
	require.Equal(t, want, got)
	require.Zero(t, r.Len())
}
