package app

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/bench"
	"github.com/iothub-dev/iothub/internal/listener"
	"github.com/iothub-dev/iothub/internal/testutil"
)

func TestBenchCmd_TLS(t *testing.T) {
	ca := testutil.NewCA(t, "bench CLI CA")
	other := testutil.NewCA(t, "untrusted CA")
	client := ca.Client(t, "bench-device")
	s, _ := testutil.StartBroker(t, nil)
	srv := ca.Server(t, "localhost")
	tc, err := listener.NewTLSConfig(listener.TLSSettings{CertFile: srv.CertFile, KeyFile: srv.KeyFile, CAFile: ca.File, ClientAuth: listener.ClientAuthRequest})
	require.NoError(t, err)
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = s.Serve(listener.Wrap(raw, listener.AcceptOptions{Name: "tls", TLS: tc}), "tls") }() // closed by the broker's Shutdown
	addr := raw.Addr().String()
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("hello\n"), 0o600))

	tests := []struct {
		name       string
		args       []string
		wantStatus int
		wantOut    string // in stdout
		wantErr    string // in stderr
	}{
		{"conn cafile", []string{"conn", "--tls", "--addr", addr, "--cafile", ca.File, "--count", "2"}, exitOK, "connected 2, failed 0", ""},
		{"conn mtls servername", []string{"conn", "--tls", "--addr", addr, "--cafile", ca.File, "--cert", client.CertFile, "--key", client.KeyFile,
			"--servername", "localhost", "--count", "2"}, exitOK, "connected 2, failed 0", ""},
		{"conn untrusted", []string{"conn", "--tls", "--addr", addr, "--cafile", other.File, "--count", "1"}, exitFail, "certificate signed by unknown authority", ""},
		{"pub insecure", []string{"pub", "--tls", "--insecure", "--addr", addr, "--clients", "2", "--count", "3", "--qos", "1", "--duration", "1m"},
			exitOK, "published 6 messages from 2 clients", ""},
		{"simulate bad cafile", []string{"simulate", "doorlock", "--tls", "--addr", addr, "--cafile", notPEM, "--duration", "1s"},
			exitConfig, "", "iothub bench simulate: --cafile " + notPEM + ": no certificates found"},
		{"sub cafile without tls", []string{"sub", "--addr", addr, "--cafile", ca.File, "--duration", "1s"}, exitConfig, "", "need --tls"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			status := benchCmd(tc.args, &stdout, &stderr)
			require.Equal(t, tc.wantStatus, status, "stdout: %s\nstderr: %s", stdout.String(), stderr.String())
			require.Contains(t, stdout.String(), tc.wantOut)
			require.Contains(t, stderr.String(), tc.wantErr)
		})
	}
}

func TestBenchFlags_tlsAddrDefault(t *testing.T) {
	tests := []struct {
		args     []string
		wantAddr string
	}{
		{nil, "127.0.0.1:1883"},
		{[]string{"--tls"}, benchTLSAddr},
		{[]string{"--addr", "broker:9000", "--tls"}, "broker:9000"},
		{[]string{"--tls", "--addr", "broker:9000"}, "broker:9000"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.args), func(t *testing.T) {
			fs := flag.NewFlagSet("bench pub", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			var o bench.ClientOptions
			clientFlags(fs, &o, "p-")
			_, done := parseBench(fs, tc.args)
			require.False(t, done)
			require.Equal(t, tc.wantAddr, o.Addr)
		})
	}
}

// A failed bench command names itself once ("iothub bench conn: count 0:
// ..."), whether or not the error it prints already carries the name.
func TestBenchCmd_errorsNameTheCommandOnce(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(args []string, stdout, stderr io.Writer) int
		args []string
		want string
	}{
		{"conn", benchConn, []string{"--count", "0"}, "iothub bench conn: count 0: must be positive\n"},
		{"pub", benchPub, []string{"--clients", "0"}, "iothub bench pub: clients 0: must be positive\n"},
		{"sub", benchSub, []string{"--clients", "0"}, "iothub bench sub: clients 0: must be positive\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			require.Equal(t, exitConfig, tc.run(tc.args, &stdout, &stderr))
			require.Equal(t, tc.want, stderr.String())
		})
	}
	var stderr bytes.Buffer
	benchError(&stderr, "bench pub", errors.New("dial tcp: refused"))
	require.Equal(t, "iothub bench pub: dial tcp: refused\n", stderr.String(), "an error without the name gets it")
}
