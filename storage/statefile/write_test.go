package statefile_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/storage/statefile"
)

func TestWriteAtomic(t *testing.T) {
	tests := []struct {
		name     string
		existing string // "" : no file before
	}{
		{"new file in a new directory", ""},
		{"replaces a file", "old contents"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			path := filepath.Join(dir, "state.json")
			if tt.existing != "" {
				require.NoError(t, os.MkdirAll(dir, 0o700))
				require.NoError(t, os.WriteFile(path, []byte(tt.existing), 0o644))
			}
			require.NoError(t, statefile.WriteAtomic(path, []byte("new")))
			got, err := os.ReadFile(path)
			require.NoError(t, err)
			require.Equal(t, "new", string(got))
			fi, err := os.Stat(path)
			require.NoError(t, err)
			require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			require.Len(t, entries, 1, "no temporary file left behind")
		})
	}
}

func TestWriteAtomic_errorNamesTheStep(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(blocker, nil, 0o600))
	err := statefile.WriteAtomic(filepath.Join(blocker, "state.json"), []byte("x"))
	require.ErrorContains(t, err, "create directory")
}
