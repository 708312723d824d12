package thing

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	tests := []struct {
		topic string
		want  Topic
		ok    bool
	}{
		{"$aws/things/lock-1/shadow/update", Topic{"lock-1", "shadow", "update"}, true},
		{"$aws/things/lock-1/shadow/name/cfg/get", Topic{"lock-1", "shadow", "name/cfg/get"}, true},
		{"$aws/things/lock-1/jobs/$next/get", Topic{"lock-1", "jobs", "$next/get"}, true},
		{"$aws/things/lock-1/jobs", Topic{"lock-1", "jobs", ""}, true},
		{"$aws/things/lock-1", Topic{}, false},
		{"$aws/things//shadow/get", Topic{}, false},
		{"$aws/things/x/", Topic{}, false},
		{"devices/x/shadow", Topic{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.topic, func(t *testing.T) {
			got, ok := Parse(tc.topic)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestValidName(t *testing.T) {
	for _, good := range []string{"10083618796833171", "lock-a", "a:b_c.d", "$x"} {
		require.NoError(t, ValidName(good, MaxNameLen), good)
	}
	for _, bad := range []string{"", "a/b", "a+b", "a#", "a b", "a\x00", "\xff", string(make([]byte, 129))} {
		require.ErrorIs(t, ValidName(bad, MaxNameLen), ErrBadName, "%q", bad)
	}
}
