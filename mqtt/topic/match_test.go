package topic

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// matchCases are the examples of MQTT 3.1.1 and 5.0 section 4.7, plus edge
// cases around empty levels, "#" on the parent level and '$' topics. They are
// reused by the Trie and Retained tests.
var matchCases = []struct {
	filter, name string
	want         bool
}{
	// 4.7.1.2 multi-level wildcard.
	{"sport/tennis/player1/#", "sport/tennis/player1", true},
	{"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
	{"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
	{"sport/tennis/player1/#", "sport/tennis/player2", false},
	{"sport/tennis/player1/#", "sport/tennis", false},
	{"sport/#", "sport", true},
	{"sport/#", "sport/", true},
	{"sport/#", "sports", false},
	{"#", "sport", true},
	{"#", "sport/tennis/player1", true},
	{"#", "/", true},
	{"#", "", true},
	// 4.7.1.3 single-level wildcard.
	{"sport/tennis/+", "sport/tennis/player1", true},
	{"sport/tennis/+", "sport/tennis/player2", true},
	{"sport/tennis/+", "sport/tennis/player1/ranking", false},
	{"sport/+", "sport", false},
	{"sport/+", "sport/", true},
	{"+", "sport", true},
	{"+", "", true},
	{"+/tennis/#", "sport/tennis/player1", true},
	{"+/tennis/#", "sport/tennis", true},
	{"sport/+/player1", "sport/tennis/player1", true},
	{"sport/+/player1", "sport/tennis/player2", false},
	{"+/+", "/finance", true},
	{"/+", "/finance", true},
	{"+", "/finance", false},
	{"+/#", "a", true},
	{"+/+/#", "a", false},
	// 4.7.2 topics beginning with $.
	{"#", "$SYS/monitor/Clients", false},
	{"#", "$SYS", false},
	{"+", "$SYS", false},
	{"+/monitor/Clients", "$SYS/monitor/Clients", false},
	{"+/#", "$SYS/monitor", false},
	{"$SYS/#", "$SYS/monitor/Clients", true},
	{"$SYS/#", "$SYS", true},
	{"$SYS/monitor/+", "$SYS/monitor/Clients", true},
	{"$SYS/+/Clients", "$SYS/monitor/Clients", true},
	{"a/+", "a/$b", true},
	{"a/#", "a/$b/c", true},
	{"$", "$", true},
	// Literal levels, case and empty levels.
	{"a/b", "a/b", true},
	{"a/b", "A/b", false},
	{"a/b", "a/b/", false},
	{"a/b/", "a/b/", true},
	{"a//b", "a//b", true},
	{"a/+/b", "a//b", true},
	{"/", "/", true},
	{"+/+", "/", true},
	{"+", "/", false},
	{"a", "a/b", false},
	{"a/b", "a", false},
	{"a/b/c", "a/b", false},
	{"devices/+/state", "devices/10083618796833171/state", true},
	{"devices/+/state", "devices/10083618796833171/command", false},
	{"mqttx/simulate/#", "mqttx/simulate/tesla/car-1", true},
}

func TestMatch(t *testing.T) {
	for _, tc := range matchCases {
		t.Run(tc.filter+"|"+tc.name, func(t *testing.T) {
			require.NoError(t, ValidateFilter(tc.filter))
			if tc.name != "" {
				require.NoError(t, ValidateName(tc.name))
			}
			require.Equal(t, tc.want, Match(tc.filter, tc.name))
		})
	}
}

func TestMatch_invalidInputDoesNotPanic(t *testing.T) {
	for _, tc := range []struct{ filter, name string }{
		{"#/a", "x/a"}, {"a/#/b", "a"}, {"", ""}, {"a+", "a"}, {"+", "#"},
	} {
		require.NotPanics(t, func() { Match(tc.filter, tc.name) })
	}
	require.False(t, Match("#/a", "x/a"), "# not last never matches")
}

func TestMatch_noAllocs(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		Match("sport/tennis/+/#", "sport/tennis/player1/score/wimbledon")
	})
	require.Zero(t, allocs)
}
