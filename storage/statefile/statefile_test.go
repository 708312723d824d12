package statefile_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/storage/statefile"
)

type item struct {
	Name string `json:"name"`
	N    int    `json:"n,omitempty"`
}

func TestFile_saveThenLoad(t *testing.T) {
	f := statefile.File[item]{Path: filepath.Join(t.TempDir(), "d", "items.json"), Key: "items", Version: 2}
	got, err := f.Load()
	require.NoError(t, err, "a missing file is an empty list")
	require.Empty(t, got)

	want := []item{{Name: "a", N: 1}, {Name: "b"}}
	require.NoError(t, f.Save(want))
	got, err = f.Load()
	require.NoError(t, err)
	require.Equal(t, want, got)

	require.NoError(t, f.Save(nil))
	data, err := os.ReadFile(f.Path)
	require.NoError(t, err)
	require.JSONEq(t, `{"version":2,"items":[]}`, string(data))
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		want    []item
		wantErr error
	}{
		{"items", `{"version":1,"items":[{"name":"x"}]}`, []item{{Name: "x"}}, nil},
		{"no version", `{"items":[{"name":"x"}]}`, nil, statefile.ErrVersion},
		{"no list", `{"version":1}`, nil, nil},
		{"null list", `{"version":1,"items":null}`, nil, nil},
		{"other version", `{"version":3,"items":[]}`, nil, statefile.ErrVersion},
		{"misspelt key", `{"version":1,"itmes":[]}`, nil, statefile.ErrFormat},
		{"not an object", `[1,2]`, nil, statefile.ErrFormat},
		{"null", `null`, nil, statefile.ErrFormat},
		{"version not a number", `{"version":"1"}`, nil, statefile.ErrFormat},
		{"list of wrong type", `{"version":1,"items":{"name":"x"}}`, nil, statefile.ErrFormat},
		{"truncated", `{"version":1,"items":[{"na`, nil, statefile.ErrFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := statefile.Decode[item]([]byte(tt.data), "items", 1)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestDecode_acceptUnversioned(t *testing.T) {
	got, err := statefile.Decode[item]([]byte(`{"items":[{"name":"x"}]}`), "items", 1, statefile.AcceptUnversioned)
	require.NoError(t, err)
	require.Equal(t, []item{{Name: "x"}}, got)
	_, err = statefile.Decode[item]([]byte(`{"version":2,"items":[]}`), "items", 1, statefile.AcceptUnversioned)
	require.ErrorIs(t, err, statefile.ErrVersion, "a version that is there is still checked")
}

func TestFile_loadNamesThePath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.json")
	require.NoError(t, os.WriteFile(path, []byte("{"), 0o600))
	_, err := statefile.File[item]{Path: path, Key: "items", Version: 1}.Load()
	require.ErrorIs(t, err, statefile.ErrFormat)
	require.ErrorContains(t, err, path)
}

// FuzzDecode holds Decode to its contract on any input: no panic, and what
// it accepts encodes and decodes again to the same items.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"version":1,"items":[{"name":"x","n":2}]}`, `{"items":null}`, `{}`, `[]`, `{"version":1e400}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		items, err := statefile.Decode[item](data, "items", 1)
		if err != nil {
			return
		}
		enc, err := statefile.Encode(items, "items", 1)
		require.NoError(t, err)
		again, err := statefile.Decode[item](enc, "items", 1)
		require.NoError(t, err)
		if len(items) == 0 {
			require.Empty(t, again)
			return
		}
		require.Equal(t, items, again)
	})
}
