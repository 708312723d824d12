package topic

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// matched returns the sorted "filter key" pairs of m's non-shared entries.
func matched[V any](m *Matches[V]) []string {
	out := make([]string, 0, len(m.Subs))
	for _, e := range m.Subs {
		out = append(out, e.Filter+" "+e.Key)
	}
	slices.Sort(out)
	return out
}

// groups returns the sorted "name filter" pairs of m's share groups.
func groups[V any](m *Matches[V]) []string {
	out := make([]string, 0, len(m.Shared))
	for _, g := range m.Shared {
		out = append(out, g.Name()+" "+g.Filter())
	}
	slices.Sort(out)
	return out
}

// requireEmpty checks that t holds nothing, down to its root node.
func requireEmpty[V any](t *testing.T, tr *Trie[V]) {
	t.Helper()
	require.Zero(t, tr.Len())
	require.True(t, tr.root.empty(), "root still has children: %+v", tr.root)
}

func TestTrie_Match_specCases(t *testing.T) {
	for _, tc := range matchCases {
		t.Run(tc.filter+"|"+tc.name, func(t *testing.T) {
			tr := NewTrie[int]()
			_, err := tr.Subscribe(tc.filter, "c", 1)
			require.NoError(t, err)
			_, err = tr.Subscribe("$share/g/"+tc.filter, "c", 2)
			require.NoError(t, err)
			var m Matches[int]
			tr.Match(tc.name, &m)
			if tc.want {
				require.Equal(t, []Entry[int]{{Key: "c", Filter: tc.filter, Value: 1}}, m.Subs)
				require.Len(t, m.Shared, 1)
				require.Equal(t, "g", m.Shared[0].Name())
				require.Equal(t, tc.filter, m.Shared[0].Filter())
			} else {
				require.Empty(t, m.Subs)
				require.Empty(t, m.Shared)
			}
		})
	}
}

func TestTrie_Subscribe(t *testing.T) {
	tests := []struct {
		name    string
		filter  string
		wantErr error
	}{
		{"plain", "a/b", nil},
		{"wildcards", "+/b/#", nil},
		{"shared", "$share/g/a/+", nil},
		{"empty", "", ErrEmpty},
		{"bad plus", "a/b+", ErrBadWildcard},
		{"hash not last", "a/#/b", ErrBadWildcard},
		{"null", "a/\x00", ErrNullChar},
		{"share without filter", "$share/g/", ErrBadShare},
		{"share without group", "$share//a", ErrBadShare},
		{"share wildcard group", "$share/g+/a", ErrBadShare},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTrie[int]()
			isNew, err := tr.Subscribe(tc.filter, "c", 1)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				require.False(t, isNew)
				requireEmpty(t, tr)
				require.False(t, tr.Unsubscribe(tc.filter, "c"))
				return
			}
			require.NoError(t, err)
			require.True(t, isNew)
			require.Equal(t, 1, tr.Len())
			require.True(t, tr.Unsubscribe(tc.filter, "c"))
			requireEmpty(t, tr)
		})
	}
}

func TestTrie_Subscribe_replace(t *testing.T) {
	tr := NewTrie[int]()
	for _, f := range []string{"a/b", "$share/g/a/b"} {
		isNew, err := tr.Subscribe(f, "c", 1)
		require.NoError(t, err)
		require.True(t, isNew)
		isNew, err = tr.Subscribe(f, "c", 2)
		require.NoError(t, err)
		require.False(t, isNew, "same key and filter replaces")
	}
	require.Equal(t, 2, tr.Len())

	var m Matches[int]
	tr.Match("a/b", &m)
	require.Equal(t, []Entry[int]{{Key: "c", Filter: "a/b", Value: 2}}, m.Subs)
	require.Len(t, m.Shared, 1)
	require.Equal(t, []Entry[int]{{Key: "c", Filter: "$share/g/a/b", Value: 2}}, m.Shared[0].Members())
}

func TestTrie_Match_overlap(t *testing.T) {
	tr := NewTrie[string]()
	subs := []struct{ filter, key string }{
		{"devices/+/state", "rules"},
		{"devices/lock1/state", "lock1"},
		{"devices/lock1/#", "lock1"},
		{"devices/#", "audit"},
		{"#", "audit"},
		{"+/+/+", "other"},
		{"devices/lock1/command", "lock1"},
		{"$share/kafka/devices/+/state", "bridge1"},
		{"$share/kafka/devices/+/state", "bridge2"},
		{"$share/kafka/devices/#", "bridge1"},
		{"$share/other/devices/+/state", "x"},
		{"$SYS/#", "monitor"},
	}
	for _, s := range subs {
		isNew, err := tr.Subscribe(s.filter, s.key, s.key)
		require.NoError(t, err)
		require.True(t, isNew)
	}
	require.Equal(t, len(subs), tr.Len())

	var m Matches[string]
	tr.Match("devices/lock1/state", &m)
	require.Equal(t, []string{
		"# audit",
		"+/+/+ other",
		"devices/# audit",
		"devices/+/state rules",
		"devices/lock1/# lock1",
		"devices/lock1/state lock1",
	}, matched(&m))
	require.Equal(t, []string{
		"kafka devices/#",
		"kafka devices/+/state",
		"other devices/+/state",
	}, groups(&m))

	tr.Match("$SYS/uptime", &m)
	require.Equal(t, []string{"$SYS/# monitor"}, matched(&m))
	require.Empty(t, m.Shared)

	tr.Match("$nothing/here", &m)
	require.Empty(t, m.Subs, "Match resets m")
	require.Empty(t, m.Shared)

	for _, s := range subs {
		require.True(t, tr.Unsubscribe(s.filter, s.key), s.filter)
		require.False(t, tr.Unsubscribe(s.filter, s.key), "second unsubscribe of %s", s.filter)
	}
	requireEmpty(t, tr)
}

func TestTrie_Unsubscribe(t *testing.T) {
	tests := []struct {
		name        string
		subscribe   []string // "filter key"
		unsubscribe string
		key         string
		want        bool
	}{
		{"missing filter", []string{"a/b c"}, "a/c", "c", false},
		{"missing key", []string{"a/b c"}, "a/b", "d", false},
		{"prefix node only", []string{"a/b c"}, "a", "c", false},
		{"shared missing group", []string{"$share/g/a c"}, "$share/h/a", "c", false},
		{"shared vs plain", []string{"$share/g/a c"}, "a", "c", false},
		{"plain vs shared", []string{"a c"}, "$share/g/a", "c", false},
		{"invalid", []string{"a c"}, "a/#/b", "c", false},
		{"present", []string{"a/b c", "a/b d"}, "a/b", "d", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTrie[int]()
			for _, s := range tc.subscribe {
				var f, k string
				_, err := fmt.Sscan(s, &f, &k)
				require.NoError(t, err)
				_, err = tr.Subscribe(f, k, 0)
				require.NoError(t, err)
			}
			require.Equal(t, tc.want, tr.Unsubscribe(tc.unsubscribe, tc.key))
			want := len(tc.subscribe)
			if tc.want {
				want--
			}
			require.Equal(t, want, tr.Len())
		})
	}
}

func TestTrie_Unsubscribe_prunes(t *testing.T) {
	tr := NewTrie[int]()
	for _, f := range []string{"a/b/c/d", "a/b", "a/+/c", "a/#", "$share/g/a/b/c/d"} {
		_, err := tr.Subscribe(f, "k", 0)
		require.NoError(t, err)
	}
	require.True(t, tr.Unsubscribe("a/b/c/d", "k"))
	require.NotNil(t, tr.root.find("a/b/c/d"), "still holds the share group")
	require.True(t, tr.Unsubscribe("$share/g/a/b/c/d", "k"))
	require.Nil(t, tr.root.find("a/b/c"), "empty chain pruned up to a/b")
	require.NotNil(t, tr.root.find("a/b"))
	require.True(t, tr.Unsubscribe("a/+/c", "k"))
	require.Nil(t, tr.root.find("a/+"))
	require.True(t, tr.Unsubscribe("a/b", "k"))
	require.True(t, tr.Unsubscribe("a/#", "k"))
	requireEmpty(t, tr)
}

// TestTrie_manyKeysOneFilter crosses the indexMin threshold so that both the
// scanned and the indexed entry lists are exercised.
func TestTrie_manyKeysOneFilter(t *testing.T) {
	tr := NewTrie[int]()
	const n = 3 * indexMin
	for i := range n {
		isNew, err := tr.Subscribe("a/+", fmt.Sprint("k", i), i)
		require.NoError(t, err)
		require.True(t, isNew)
	}
	isNew, err := tr.Subscribe("a/+", "k3", 300)
	require.NoError(t, err)
	require.False(t, isNew)

	var m Matches[int]
	tr.Match("a/x", &m)
	require.Len(t, m.Subs, n)
	got := map[string]int{}
	for _, e := range m.Subs {
		got[e.Key] = e.Value
	}
	require.Equal(t, 300, got["k3"])

	for i := 0; i < n; i += 2 {
		require.True(t, tr.Unsubscribe("a/+", fmt.Sprint("k", i)))
	}
	tr.Match("a/x", &m)
	require.Len(t, m.Subs, n/2)
	for _, e := range m.Subs {
		var i int
		_, err := fmt.Sscanf(e.Key, "k%d", &i)
		require.NoError(t, err)
		require.Equal(t, 1, i%2, "only odd keys remain, found %s", e.Key)
	}
	for i := 1; i < n; i += 2 {
		require.True(t, tr.Unsubscribe("a/+", fmt.Sprint("k", i)))
	}
	requireEmpty(t, tr)
}

func TestTrie_Walk(t *testing.T) {
	tr := NewTrie[int]()
	want := []string{"# a", "$share/g/x/+ b", "$share/g/x/+ c", "x/+ a", "x/y/z b"}
	for i, s := range want {
		var f, k string
		_, err := fmt.Sscan(s, &f, &k)
		require.NoError(t, err)
		_, err = tr.Subscribe(f, k, i)
		require.NoError(t, err)
	}
	var got []string
	tr.Walk(func(filter, key string, _ int) bool {
		got = append(got, filter+" "+key)
		// Calling back into the trie must not deadlock.
		require.Equal(t, len(want), tr.Len())
		return true
	})
	slices.Sort(got)
	require.Equal(t, want, got)

	calls := 0
	tr.Walk(func(string, string, int) bool { calls++; return false })
	require.Equal(t, 1, calls, "Walk stops when visit returns false")
}

func TestTrie_Match_noAllocs(t *testing.T) {
	tr := NewTrie[int]()
	for _, f := range []string{"a/b/c", "a/+/c", "a/#", "#", "$share/g/a/b/c", "+/+/+"} {
		_, err := tr.Subscribe(f, "k", 0)
		require.NoError(t, err)
	}
	var m Matches[int]
	tr.Match("a/b/c", &m) // grow m once
	require.Len(t, m.Subs, 5)
	allocs := testing.AllocsPerRun(100, func() { tr.Match("a/b/c", &m) })
	require.Zero(t, allocs)
}

// TestTrie_concurrent runs writers, matchers and share-group pickers at once;
// its value is under -race.
func TestTrie_concurrent(t *testing.T) {
	tr := NewTrie[int]()
	filters := []string{"a/b", "a/+", "a/#", "#", "+/b", "$share/g/a/b", "$share/h/#"}
	const workers, rounds = 4, 300
	var wg sync.WaitGroup
	for w := range workers {
		key := fmt.Sprint("client", w)
		wg.Go(func() {
			for i := range rounds {
				f := filters[i%len(filters)]
				_, err := tr.Subscribe(f, key, i)
				if err != nil {
					panic(err)
				}
				if i%3 == 0 {
					tr.Unsubscribe(f, key)
				}
			}
		})
		wg.Go(func() {
			var m Matches[int]
			for range rounds {
				tr.Match("a/b", &m)
				for _, g := range m.Shared {
					g.Next()
					g.Random()
					_ = len(g.Members())
				}
				_ = tr.Len()
			}
		})
	}
	wg.Go(func() {
		for range rounds / 10 {
			tr.Walk(func(string, string, int) bool { return true })
		}
	})
	wg.Wait()

	// Every filter is left subscribed by every worker except those whose
	// last round on it unsubscribed; clean up and check the trie empties.
	tr.Walk(func(filter, key string, _ int) bool {
		require.True(t, tr.Unsubscribe(filter, key))
		return true
	})
	requireEmpty(t, tr)
}
