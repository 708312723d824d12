package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files and ../iothub.example.yaml")

// TestParse_golden decodes each testdata/valid/<case>.yaml and compares the
// effective configuration with <case>.golden.yaml (go test -update rewrites).
func TestParse_golden(t *testing.T) {
	files, err := filepath.Glob("testdata/valid/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		if strings.HasSuffix(file, ".golden.yaml") {
			continue
		}
		t.Run(filepath.Base(file), func(t *testing.T) {
			c, err := Load(file, nil)
			require.NoError(t, err)
			got, err := c.YAML()
			require.NoError(t, err)
			golden := strings.TrimSuffix(file, ".yaml") + ".golden.yaml"
			if *update {
				require.NoError(t, os.WriteFile(golden, got, 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err)
			require.Equal(t, string(want), string(got))

			again, err := Parse(got, golden)
			require.NoError(t, err, "YAML() must parse back")
			require.Equal(t, c, again)
		})
	}
}

func TestParse_errors(t *testing.T) {
	tests := []struct {
		file     string
		sentinel error
		want     []string // substrings of the message
	}{
		{"unknown_top.yaml", ErrUnknownKey, []string{`unknown_top.yaml:3: unknown key "listners" (did you mean "listeners"?)`}}, //nolint:misspell // the misspelling is the test input
		{"unknown_nested.yaml", ErrUnknownKey, []string{`unknown_nested.yaml:3: unknown key "mqtt.max_inflght" (did you mean "max_inflight"?)`}},
		{"unknown_listener.yaml", ErrUnknownKey, []string{`unknown_listener.yaml:4: unknown key "listeners.tcp.0.adress"`}},
		{"wrong_type.yaml", ErrBadValue, []string{`wrong_type.yaml:2: mqtt.max_inflight: expected an integer, got "lots"`}},
		{"wrong_kind.yaml", ErrBadValue, []string{`wrong_kind.yaml:1: log: expected a mapping, got "debug"`}},
		{"bad_duration.yaml", ErrBadValue, []string{`bad_duration.yaml:2: mqtt.connect_timeout: invalid duration "10"`}},
		{"bad_address.yaml", ErrInvalid, []string{`bad_address.yaml:4: listeners.tcp.0.address: "1883" is not host:port`}},
		{"missing_cert.yaml", ErrInvalid, []string{`missing_cert.yaml:4: listeners.tls.0.cert_file:`, "does-not-exist.crt", "no such file"}},
		{"no_cert.yaml", ErrInvalid, []string{
			`no_cert.yaml:3: listeners.tls.0.cert_file: required`,
			`no_cert.yaml:3: listeners.tls.0.key_file: required`,
		}},
		{"bad_enum.yaml", ErrInvalid, []string{`bad_enum.yaml:2: log.level: "verbose" is not one of debug, info, warn, error`}},
		{"duplicate_key.yaml", ErrBadValue, []string{`duplicate_key.yaml:3: mqtt.max_inflight: duplicate key (first at line 2)`}},
		{"duplicate_listener.yaml", ErrInvalid, []string{
			`duplicate_listener.yaml:6: listeners.ws.0.name: duplicate listener name "a" (also listeners.tcp.0.name)`,
			`duplicate_listener.yaml:7: listeners.ws.0.address: duplicate address ":1883" (also listeners.tcp.0.address)`,
		}},
		{"bad_path.yaml", ErrInvalid, []string{`bad_path.yaml:4: listeners.ws.0.path: "mqtt" must start with /`}},
		{"negative.yaml", ErrInvalid, []string{`negative.yaml:2: mqtt.max_connections: -1 must be at least 0`}},
		{"syntax.yaml", ErrSyntax, []string{`syntax.yaml:2: did not find expected key`}},
		{"not_mapping.yaml", ErrBadValue, []string{`not_mapping.yaml:1: the top level must be a mapping, got a list`}},
		{"two_documents.yaml", ErrSyntax, []string{`two_documents.yaml:2: a second YAML document`}},
	}
	covered := map[string]bool{}
	for _, tc := range tests {
		covered[tc.file] = true
		t.Run(tc.file, func(t *testing.T) {
			_, err := Load(filepath.Join("testdata/invalid", tc.file), nil)
			require.Error(t, err)
			require.ErrorIs(t, err, tc.sentinel)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), "config testdata/invalid/")
				require.Contains(t, err.Error(), w)
			}
			var ke *KeyError
			require.ErrorAs(t, err, &ke)
		})
	}
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	require.NoError(t, err)
	for _, f := range files {
		require.True(t, covered[filepath.Base(f)], "%s has no test case", f)
	}
}

func TestParse_collectsAllErrors(t *testing.T) {
	_, err := Parse([]byte("a: 1\nmqtt:\n  b: 2\n  max_inflight: x\nlog:\n  level: loud\n"), "f.yaml")
	require.Error(t, err)
	msg := err.Error()
	require.Contains(t, msg, `f.yaml:1: unknown key "a"`)
	require.Contains(t, msg, `f.yaml:3: unknown key "mqtt.b"`)
	require.Contains(t, msg, `f.yaml:4: mqtt.max_inflight: expected an integer`)
	// Value errors come in the same pass as the type errors.
	require.Contains(t, msg, `log.level: "loud" is not one of`)

	_, err = Parse([]byte("log:\n  level: loud\n  format: xml\nmqtt:\n  max_inflight: 0\n"), "f.yaml")
	require.Error(t, err)
	require.Len(t, err.(interface{ Unwrap() []error }).Unwrap(), 3) //nolint:errorlint // errors.Join's documented shape.
}

func TestParse_emptyAndNull(t *testing.T) {
	for _, in := range []string{"", "# nothing\n", "~\n", "mqtt:\n", "listeners:\n  tls:\n"} {
		c, err := Parse([]byte(in), "f.yaml")
		require.NoError(t, err, "%q", in)
		require.Equal(t, Defaults(), c, "%q", in)
	}
	c, err := Parse([]byte("listeners:\n  ws: []\n  tcp: ~\n"), "f.yaml")
	require.NoError(t, err)
	require.Empty(t, c.Listeners.WS)
	require.Empty(t, c.Listeners.TCP)
}

func TestParse_listenerDefaults(t *testing.T) {
	c, err := Parse([]byte("listeners:\n  ws:\n    - address: ':9001'\n    - address: ':9002'\n      path: /x\n"), "f.yaml")
	require.NoError(t, err)
	require.Equal(t, []WSListener{
		{Name: "ws", Address: ":9001", Path: "/mqtt"},
		{Name: "ws-1", Address: ":9002", Path: "/x"},
	}, c.Listeners.WS)
}

func TestParse_portZeroMayRepeat(t *testing.T) {
	_, err := Parse([]byte("api:\n  address: 127.0.0.1:0\nlisteners:\n  tcp:\n    - address: 127.0.0.1:0\n  ws:\n    - address: 127.0.0.1:0\n"), "f.yaml")
	require.NoError(t, err)
}

func TestLoad_missingFile(t *testing.T) {
	_, err := Load("testdata/nope.yaml", nil)
	require.ErrorIs(t, err, os.ErrNotExist)
	require.Contains(t, err.Error(), "testdata/nope.yaml")
}

func TestLoad_noFile(t *testing.T) {
	c, err := Load("", nil)
	require.NoError(t, err)
	require.Equal(t, Defaults(), c)
}

func TestKeyError_format(t *testing.T) {
	require.Equal(t, `config iothub.yaml:12: unknown key "mqtt.max_inflght"`,
		(&KeyError{Source: "iothub.yaml", Line: 12, Key: "mqtt.max_inflght", Err: ErrUnknownKey}).Error())
	require.Equal(t, `config env IOTHUB_LOG_LEVEL: log.level: bad`,
		(&KeyError{Source: "env IOTHUB_LOG_LEVEL", Key: "log.level", Msg: "bad", Err: ErrInvalid}).Error())
	require.Equal(t, `config: log.level: bad`, (&KeyError{Key: "log.level", Msg: "bad", Err: ErrInvalid}).Error())
	require.True(t, errors.Is(&KeyError{Err: ErrInvalid}, ErrInvalid))
}
