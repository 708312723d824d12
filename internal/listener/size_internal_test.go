package listener

import (
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// TestIdleSizes guards what every idle WebSocket connection pays for (the
// broker's TestIdleSizes does the same for its own structs): wsConn is the
// one object the listener keeps per connection, and 64 bytes is a size
// class of Go's allocator (the next is 80). peer is one pointer: a proxy's
// address and a certificate go behind it.
func TestIdleSizes(t *testing.T) {
	for _, tc := range []struct {
		name      string
		size, max uintptr
	}{
		{"wsConn", unsafe.Sizeof(wsConn{}), 64},
		{"peer", unsafe.Sizeof(peer{}), 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.LessOrEqual(t, tc.size, tc.max, "%s is %d bytes", tc.name, tc.size)
		})
	}
}
