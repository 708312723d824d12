package broker

import (
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// deadlineConn records the read deadlines set on it.
type deadlineConn struct {
	net.Conn
	set []time.Time
}

func (d *deadlineConn) SetReadDeadline(t time.Time) error {
	d.set = append(d.set, t)
	return nil
}

// A busy parkable connection moves its socket's idle deadline only when
// it came within three quarters of ParkIdleAfter (not for every packet); a
// keep-alive deadline sooner than that is always set.
func TestSetReadDeadline_idleDeadlineMovesRarely(t *testing.T) {
	t0 := time.Now()
	tests := []struct {
		name      string
		idle      time.Duration
		keepAlive uint16          // seconds
		at        []time.Duration // when packets are handled, after t0
		want      []time.Duration // the deadlines set, after t0
	}{
		{"idle deadline: moved once a quarter of it passed", time.Second, 0,
			[]time.Duration{0, 100 * time.Millisecond, 249 * time.Millisecond, 300 * time.Millisecond, 500 * time.Millisecond, 600 * time.Millisecond},
			[]time.Duration{time.Second, 1300 * time.Millisecond, 1600 * time.Millisecond}},
		{"keep alive sooner than idle: every time", 2 * time.Second, 1,
			[]time.Duration{0, 100 * time.Millisecond, 200 * time.Millisecond},
			[]time.Duration{1500 * time.Millisecond, 1600 * time.Millisecond, 1700 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nc := &deadlineConn{}
			c := &conn{s: &Server{opts: Options{ParkIdleAfter: tt.idle}}, nc: nc, keepAliveSecs: tt.keepAlive}
			c.park.raw = fakeRawConn{}
			for _, at := range tt.at {
				now := t0.Add(at)
				if c.keepAliveSecs > 0 {
					c.park.kaAt = monoOf(now.Add(c.keepAlive() * 3 / 2))
				}
				c.setReadDeadline(now)
			}
			require.Len(t, nc.set, len(tt.want))
			for i, w := range tt.want {
				require.WithinDuration(t, t0.Add(w), nc.set[i], time.Millisecond, "deadline %d", i)
			}
		})
	}
}

// fakeRawConn stands for a socket that parks.
type fakeRawConn struct{ syscall.RawConn }
