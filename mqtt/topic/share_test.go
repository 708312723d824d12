package topic

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// shareGroup subscribes keys to one share group and returns the live group.
func shareGroup(t *testing.T, tr *Trie[int], filter string, keys ...string) *ShareGroup[int] {
	t.Helper()
	for i, k := range keys {
		_, err := tr.Subscribe(filter, k, i)
		require.NoError(t, err)
	}
	group, inner, err := SplitShare(filter)
	require.NoError(t, err)
	return tr.root.find(inner).group(group, inner, false)
}

func TestShareGroup_Next(t *testing.T) {
	tests := []struct {
		name  string
		keys  []string
		picks int
		want  []string
	}{
		{"one", []string{"a"}, 3, []string{"a", "a", "a"}},
		{"three", []string{"a", "b", "c"}, 7, []string{"a", "b", "c", "a", "b", "c", "a"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTrie[int]()
			g := shareGroup(t, tr, "$share/g/x/+", tc.keys...)
			require.Equal(t, "g", g.Name())
			require.Equal(t, "x/+", g.Filter())
			var got []string
			for range tc.picks {
				e, ok := g.Next()
				require.True(t, ok)
				require.Equal(t, "$share/g/x/+", e.Filter)
				got = append(got, e.Key)
			}
			require.Equal(t, tc.want, got)
		})
	}
}

func TestShareGroup_evenSpread(t *testing.T) {
	tr := NewTrie[int]()
	keys := make([]string, 5)
	for i := range keys {
		keys[i] = fmt.Sprint("m", i)
	}
	g := shareGroup(t, tr, "$share/g/#", keys...)
	next, random := map[string]int{}, map[string]int{}
	const rounds = 5000
	for range rounds {
		e, ok := g.Next()
		require.True(t, ok)
		next[e.Key]++
		e, ok = g.Random()
		require.True(t, ok)
		random[e.Key]++
	}
	for _, k := range keys {
		require.Equal(t, rounds/len(keys), next[k], "round robin is exact")
		require.InDelta(t, rounds/len(keys), random[k], float64(rounds/len(keys)/2), "random is roughly uniform")
	}
}

func TestShareGroup_copyOnWrite(t *testing.T) {
	tr := NewTrie[int]()
	g := shareGroup(t, tr, "$share/g/a", "x", "y", "z")
	before := g.Members()
	require.Len(t, before, 3)

	require.True(t, tr.Unsubscribe("$share/g/a", "y"))
	_, err := tr.Subscribe("$share/g/a", "x", 42)
	require.NoError(t, err)

	require.Equal(t, []Entry[int]{
		{Key: "x", Filter: "$share/g/a", Value: 0},
		{Key: "y", Filter: "$share/g/a", Value: 1},
		{Key: "z", Filter: "$share/g/a", Value: 2},
	}, before, "an old snapshot never changes")
	require.Equal(t, []Entry[int]{
		{Key: "x", Filter: "$share/g/a", Value: 42},
		{Key: "z", Filter: "$share/g/a", Value: 2},
	}, g.Members(), "order kept on leave, value replaced in place")

	// Index stays right after the shift: remove the shifted member.
	require.True(t, tr.Unsubscribe("$share/g/a", "z"))
	require.True(t, tr.Unsubscribe("$share/g/a", "x"))
	require.Empty(t, g.Members(), "detached group reports no members")
	_, ok := g.Next()
	require.False(t, ok)
	_, ok = g.Random()
	require.False(t, ok)
	requireEmpty(t, tr)
}

func TestShareGroup_groupsAreDistinct(t *testing.T) {
	tr := NewTrie[int]()
	shareGroup(t, tr, "$share/a/t", "1", "2")
	shareGroup(t, tr, "$share/b/t", "3")
	shareGroup(t, tr, "$share/a/+", "4")
	var m Matches[int]
	tr.Match("t", &m)
	require.Equal(t, []string{"a +", "a t", "b t"}, groups(&m))
	require.Empty(t, m.Subs)
	require.Equal(t, 4, tr.Len())
}
