package redis_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/bridge/redis"
)

func TestFields(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{`{"a":"x","b":1.5,"c":null,"d":[1],"e":{"f":true}}`, []string{"a", "x", "b", "1.5", "c", "null", "d", "[1]", "e", `{"f":true}`}},
		{` {"z":"1","a":"2"} `, []string{"z", "1", "a", "2"}},
		{`{"a":"\u00e9\n"}`, []string{"a", "é\n"}},
		{`{}`, nil},
		{`[1]`, nil},
		{`"s"`, nil},
		{`{"a":1} {"b":2}`, nil},
		{`{"a":1`, nil},
		{``, nil},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := redis.Fields([]byte(tc.in))
			if tc.want == nil {
				require.ErrorIs(t, err, redis.ErrNotObject)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

// FuzzFields: any input gives fields in pairs or ErrNotObject, never a
// panic.
func FuzzFields(f *testing.F) {
	for _, s := range []string{`{"a":"x","b":1.5}`, `{}`, `[1]`, `{"a":{"b":[1,"2"]}}`, `{"a":1} x`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := redis.Fields(in)
		if err != nil {
			require.ErrorIs(t, err, redis.ErrNotObject)
			return
		}
		require.NotEmpty(t, got)
		require.Zero(t, len(got)%2)
	})
}
