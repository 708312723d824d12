package lock

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestChecker(t *testing.T) {
	const secret, id = "s3cret", "10083618796833171"
	now := time.Unix(1574744434, 0)
	good, err := NewCommand(Key(secret, id), "unlock", now)
	require.NoError(t, err)
	tampered := good
	tampered.Action = "lock"
	otherLock, err := NewCommand(Key(secret, "10083618796833172"), "unlock", now)
	require.NoError(t, err)
	old, err := NewCommand(Key(secret, id), "unlock", now.Add(-time.Hour))
	require.NoError(t, err)
	future, err := NewCommand(Key(secret, id), "unlock", now.Add(time.Hour))
	require.NoError(t, err)
	weird, err := NewCommand(Key(secret, id), "open_sesame", now)
	require.NoError(t, err)

	c := &Checker{Secret: secret, MaxAge: 5 * time.Minute}
	tests := []struct {
		name string
		cmd  Command
		at   time.Time
		want []string
	}{
		{"a signed fresh command", good, now.Add(time.Second), nil},
		{"the same again", good, now.Add(2 * time.Second), []string{ReplayedNonce}},
		{"an altered field, same nonce", tampered, now, []string{BadSignature, ReplayedNonce}},
		{"signed for another lock", otherLock, now, []string{BadSignature}},
		{"an hour old", old, now, []string{StaleTS}},
		{"an hour ahead", future, now, []string{StaleTS}},
		{"an unknown action", weird, now, []string{UnknownAction}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, c.Check(id, tt.cmd, tt.at))
		})
	}
}

func TestChecker_forgeryDoesNotUseUpTheNonce(t *testing.T) {
	c := &Checker{Secret: "s", MaxAge: time.Minute}
	now := time.Now()
	real, err := NewCommand(Key("s", "L"), "unlock", now)
	require.NoError(t, err)
	forged := real
	forged.Sign = "00"
	require.Equal(t, []string{BadSignature}, c.Check("L", forged, now))
	require.Empty(t, c.Check("L", real, now))
}

func TestChecker_forgetsOldNonces(t *testing.T) {
	c := &Checker{Secret: "s", MaxAge: time.Minute}
	now := time.Now()
	for i := range 100 {
		cmd, err := NewCommand(Key("s", "L"), "lock", now.Add(time.Duration(i)*time.Second))
		require.NoError(t, err)
		require.Empty(t, c.Check("L", cmd, now.Add(time.Duration(i)*time.Second)))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	require.LessOrEqual(t, len(c.seen), 2*60+1, "nonces older than MaxAge are swept")
}

func TestParseRecord_exampleFile(t *testing.T) {
	b, err := os.ReadFile("../../../testdata/scenarios/doorlock/kafka-message_command.example.json")
	require.NoError(t, err)
	rec, payload, err := ParseRecord(b)
	require.NoError(t, err)
	require.Equal(t, "10083618796833171", rec.ClientID)
	require.Equal(t, int64(1574751635845), rec.TS)
	want, err := os.ReadFile("../../../testdata/scenarios/doorlock/command.json")
	require.NoError(t, err)
	require.JSONEq(t, string(want), string(payload))
}

func FuzzParseRecord(f *testing.F) {
	f.Add([]byte(`{"client_id":"a","payload":"e30=","ts":1}`))
	f.Add([]byte(`{"payload":"!!"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, payload, err := ParseRecord(b)
		if err != nil {
			require.Nil(t, payload)
			return
		}
		require.NotNil(t, rec)
	})
}
