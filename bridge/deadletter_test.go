package bridge

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestFileDeadLetter_rotates: a full dead-letter file is rotated to
// <file>.1 (replacing the previous one) and counted; the two files hold
// the newest records, each a whole line, and never more than twice the
// bound; a batch larger than the bound alone is refused.
func TestFileDeadLetter_rotates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dead.jsonl")
	const maxBytes = 2048
	d, err := NewFileDeadLetter("b", path, maxBytes, nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, d.Close()) })
	refused := errors.New("refused")
	for i := range 100 {
		rec := Record{Topic: "t", Value: []byte(strings.Repeat("x", 50) + string(rune('a'+i%26)))}
		require.NoError(t, d.Write(context.Background(), []Record{rec}, []error{refused}))
	}
	require.Greater(t, d.Rotations(), uint64(1))
	total := 0
	for _, p := range []string{path + ".1", path} {
		st, err := os.Stat(p)
		require.NoError(t, err)
		require.LessOrEqual(t, st.Size(), int64(maxBytes))
		f, err := os.Open(p)
		require.NoError(t, err)
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			require.Contains(t, sc.Text(), `"error":"refused"`)
			total++
		}
		require.NoError(t, f.Close())
	}
	require.Positive(t, total)
	last, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Contains(t, string(last), strings.Repeat("x", 50)+"v", "the newest record is kept") // i = 99: 'a'+99%26

	big := Record{Topic: "t", Value: []byte(strings.Repeat("y", maxBytes))}
	require.ErrorIs(t, d.Write(context.Background(), []Record{big}, []error{refused}), ErrDeadLetterFull)
}
