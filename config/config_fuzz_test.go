package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzConfigLoad decodes and validates arbitrary bytes. It must never panic,
// and a configuration that loads must print (YAML) to text that loads back
// to the same configuration. Seeds: testdata/fuzz/FuzzConfigLoad/ plus
// every file under testdata/valid and testdata/invalid, and Example.
func FuzzConfigLoad(f *testing.F) {
	f.Add(Example())
	f.Add(uncommentExample())
	for _, dir := range []string{"testdata/valid", "testdata/invalid"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
		require.NoError(f, err)
		for _, file := range files {
			data, err := os.ReadFile(file)
			require.NoError(f, err)
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.yaml")
		if err != nil {
			require.NotEmpty(t, err.Error())
			return
		}
		out, err := c.YAML()
		require.NoError(t, err)
		again, err := Parse(out, "again.yaml")
		require.NoError(t, err, "%s", out)
		c.Warnings = nil // deprecated keys are printed where they are now
		require.Equal(t, c, again)
		require.Empty(t, Diff(c, again))
	})
}
