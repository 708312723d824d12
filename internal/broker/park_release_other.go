//go:build !linux

package broker

// Where the hub has no poller of its own (not Linux), connections never
// park, so their sockets are never released (park_release.go).

func (c *conn) release() bool { return false }

func (c *conn) attach() error { return nil }

func (c *conn) releasedPeerGone() bool { return false }

func (c *conn) releaseParked() {}

func (c *conn) attachToWrite() error { return nil }

func (c *conn) closeSocket() { c.closeNetConn(c.nc) }

// sockName is the hub's end of c's connection.
func (c *conn) sockName() string {
	if a := c.nc.LocalAddr(); a != nil {
		return a.String()
	}
	return ""
}
