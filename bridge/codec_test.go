package bridge

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRecordCodec_roundTrip(t *testing.T) {
	tests := []Record{
		{},
		{Topic: "message_state", Key: []byte("10083618796833171"), Value: []byte(`{"a":1}`),
			Headers: []Header{{"source", []byte("iothub")}, {"empty", nil}}, Time: time.UnixMilli(1574753026269)},
		{Topic: "t", Key: []byte{}, Value: nil},
	}
	for _, r := range tests {
		got, err := DecodeRecord(EncodeRecord(nil, &r))
		require.NoError(t, err)
		require.Equal(t, r.Topic, got.Topic)
		require.Equal(t, r.Key == nil, got.Key == nil)
		require.Equal(t, string(r.Key), string(got.Key))
		require.Equal(t, string(r.Value), string(got.Value))
		require.Equal(t, r.Time.UnixNano(), got.Time.UnixNano())
		require.Len(t, got.Headers, len(r.Headers))
	}
}

func TestTemplate_unknownFieldPosition(t *testing.T) {
	_, err := ParseTemplate("vehicles/${kye}/command", []string{"key"}, []string{"headers."})
	var te *TemplateError
	require.ErrorAs(t, err, &te)
	require.Equal(t, 12, te.Column)
	tpl, err := ParseTemplate("v/${key}/${headers.x}$$", []string{"key"}, []string{"headers."})
	require.NoError(t, err)
	require.Equal(t, "v/K/X$", tpl.Render(func(n string) []byte {
		return map[string][]byte{"key": []byte("K"), "headers.x": []byte("X")}[n]
	}))
}

// FuzzRecordDecode: DecodeRecord never panics, and what it accepts
// survives a re-encoding.
func FuzzRecordDecode(f *testing.F) {
	f.Add(EncodeRecord(nil, &Record{Topic: "t", Key: []byte("k"), Value: []byte("v"), Headers: []Header{{"h", []byte("x")}}, Time: time.UnixMilli(1)}))
	f.Add([]byte{1, 0, 0, 0, 0, 0})
	f.Add([]byte{1, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRecord(b)
		if err != nil {
			return
		}
		r2, err := DecodeRecord(EncodeRecord(nil, &r))
		if err != nil || r2.Topic != r.Topic || string(r2.Key) != string(r.Key) || string(r2.Value) != string(r.Value) ||
			len(r2.Headers) != len(r.Headers) || !r2.Time.Equal(r.Time) {
			t.Fatalf("re-encoding differs: %+v vs %+v (%v)", r2, r, err)
		}
	})
}
