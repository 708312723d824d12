package broker

import (
	"log/slog"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/auth"
)

// TestIdleSizes guards what every idle connection pays for (docs/design.md,
// "The connection: no goroutine while idle"): a field added to conn or
// Session that takes it into the next size class of Go's allocator costs
// every connection that much more. Move rarely used state behind a pointer
// (Session.rare, conn.connect, writeQueue) instead, or raise the bound
// knowingly.
func TestIdleSizes(t *testing.T) {
	for _, tc := range []struct {
		name      string
		size, max uintptr
	}{
		{"Session", unsafe.Sizeof(Session{}), 240},
		{"conn", unsafe.Sizeof(conn{}), 320},
		// Kept for every connection (c.auth.id, Session.ident): 128 is
		// the size class below 144 (auth.Identity.Rules is a pointer).
		{"auth.Identity", unsafe.Sizeof(auth.Identity{}), 128},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.LessOrEqual(t, tc.size, tc.max, "%s is %d bytes", tc.name, tc.size)
		})
	}
}

// TestCloneIDs checks that the client id and username a session keeps do
// not alias the CONNECT's body (which would keep the password and the
// whole packet allocated), and that they keep their values.
func TestCloneIDs(t *testing.T) {
	for _, tc := range []struct{ id, user string }{
		{"", ""}, {"dev-1", ""}, {"", "alice"}, {"dev-1", "alice"},
	} {
		body := tc.id + tc.user + "secret" // stands for the CONNECT's body
		id, user := cloneIDs(body[:len(tc.id)], body[len(tc.id):len(tc.id)+len(tc.user)])
		require.Equal(t, tc.id, id)
		require.Equal(t, tc.user, user)
		require.False(t, aliases(body, id), "client id aliases the body")
		require.False(t, aliases(body, user), "username aliases the body")
	}
}

// aliases reports whether part's bytes lie inside whole's.
func aliases(whole, part string) bool {
	if part == "" {
		return false
	}
	w, p := uintptr(unsafe.Pointer(unsafe.StringData(whole))), uintptr(unsafe.Pointer(unsafe.StringData(part)))
	return p >= w && p < w+uintptr(len(whole))
}

// TestConnLogger_concurrentFirstUse: the reader and the writer of a
// connection that ends may both build its logger at once (a read error and
// a write error together, as at shutdown); run with -race. Both get the
// same logger.
func TestConnLogger_concurrentFirstUse(t *testing.T) {
	s, err := New(Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Shutdown(t.Context()) })
	for range 50 {
		c := &conn{s: s, remote: "127.0.0.1:1", lst: &listenerState{name: "tcp"}}
		got := make(chan *slog.Logger, 2)
		for range 2 {
			go func() { got <- c.logger() }()
		}
		a, b := <-got, <-got
		require.NotNil(t, a)
		require.Same(t, a, b)
	}
}
