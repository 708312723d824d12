package cluster

import (
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/mqtt/topic"
)

func TestSubjectOf_roundTrip(t *testing.T) {
	tests := []struct{ topic, subject string }{
		{"a/b/c", "iothub.t.a.b.c"},
		{"devices/10083618796833171/state", "iothub.t.devices.10083618796833171.state"},
		{"a.b/c", "iothub.t.a~2Eb.c"},
		{"with space", "iothub.t.with~20space"},
		{"*/>", "iothub.t.~2A.~3E"},
		{"a*b/c>d", "iothub.t.a~2Ab.c~3Ed"},
		{"/", "iothub.t.~.~"},
		{"a//b/", "iothub.t.a.~.b.~"},
		{"~", "iothub.t.~7E"},
		{"tab\there", "iothub.t.tab~09here"},
		{"ünï/çødé", "iothub.t.ünï.çødé"},
		{"$SYS/x", "iothub.t.$SYS.x"},
	}
	for _, tc := range tests {
		t.Run(tc.topic, func(t *testing.T) {
			s := SubjectOf(tc.topic)
			require.Equal(t, tc.subject, s)
			require.True(t, server.IsValidLiteralSubject(s), s)
			back, err := TopicOf(s)
			require.NoError(t, err)
			require.Equal(t, tc.topic, back)
		})
	}
}

func TestTopicOf_refusesForeignSubjects(t *testing.T) {
	for _, s := range []string{"", "iothub.t.", "other.a", "iothub.t.a..b", "iothub.t.~2", "iothub.t.~ZZ", "iothub.t.~41", "iothub.t.*", "iothub.t.a.>", "iothub.t.a+b"} {
		_, err := TopicOf(s)
		require.ErrorIs(t, err, ErrBadSubject, s)
	}
}

func TestSubjectsOf_filters(t *testing.T) {
	tests := []struct {
		filter string
		want   []string
	}{
		{"a/b", []string{"iothub.t.a.b"}},
		{"a/+/c", []string{"iothub.t.a.*.c"}},
		{"#", []string{"iothub.t.>"}},
		{"a/#", []string{"iothub.t.a.>", "iothub.t.a"}},
		{"+/#", []string{"iothub.t.*.>", "iothub.t.*"}},
		{"a.b/+", []string{"iothub.t.a~2Eb.*"}},
		{"/#", []string{"iothub.t.~.>", "iothub.t.~"}},
	}
	for _, tc := range tests {
		t.Run(tc.filter, func(t *testing.T) {
			got := SubjectsOf(tc.filter)
			require.Equal(t, tc.want, got)
			for _, s := range got {
				require.True(t, server.IsValidSubject(s), s)
			}
		})
	}
}

// coveredBy reports whether any of subjects matches the NATS subject s.
func coveredBy(subjects []string, s string) bool {
	for _, f := range subjects {
		if server.SubjectMatchesFilter(s, f) {
			return true
		}
	}
	return false
}

// FuzzSubject checks that the encoding is reversible for every valid topic,
// always yields a valid NATS subject, and that a filter's subjects cover
// every topic the filter matches (except "$" topics under a leading
// wildcard, which MQTT excludes and the subjects may include).
func FuzzSubject(f *testing.F) {
	for _, s := range []string{"a/b", "a.b/ c", "*/>", "/", "a//b", "~7E", "$SYS/x", "ünï"} {
		f.Add(s, "#")
		f.Add(s, "a/+")
	}
	f.Fuzz(func(t *testing.T, name, filter string) {
		if topic.ValidateName(name) != nil {
			_, _ = TopicOf(name) // must not panic on anything
			return
		}
		s := SubjectOf(name)
		if !server.IsValidLiteralSubject(s) {
			t.Fatalf("%q → invalid subject %q", name, s)
		}
		back, err := TopicOf(s)
		if err != nil || back != name {
			t.Fatalf("%q → %q → %q, %v", name, s, back, err)
		}
		if topic.ValidateFilter(filter) != nil || strings.HasPrefix(filter, topic.SharePrefix) {
			return
		}
		subs := SubjectsOf(filter)
		for _, fs := range subs {
			if !server.IsValidSubject(fs) {
				t.Fatalf("filter %q → invalid subject %q", filter, fs)
			}
		}
		if topic.Match(filter, name) && !coveredBy(subs, s) {
			t.Fatalf("filter %q matches %q but %v does not cover %q", filter, name, subs, s)
		}
		if !topic.Match(filter, name) && coveredBy(subs, s) && !strings.HasPrefix(name, "$") {
			t.Fatalf("filter %q does not match %q but %v covers %q", filter, name, subs, s)
		}
	})
}
