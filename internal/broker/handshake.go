package broker

// Handshake goroutines.
//
// A new connection's CONNECT is read and handled (the session opened, the
// CONNACK written) by a goroutine that did the same for an earlier
// connection and then waited for the next, when one is waiting; only
// otherwise is a goroutine started. A fresh goroutine starts with a small
// stack, and handling a CONNECT needs several kilobytes (the decoded
// CONNECT, the session's opening): its stack was grown and copied twice
// for every connect (measured: 13% of the hub's CPU time in a connection
// storm). A reused goroutine keeps the stack it grew.
//
// The goroutine serves the connection as before (conn.serve): when the
// connection parks or ends, or its read loop moves to a goroutine of its
// own, it returns to wait. At most maxIdleShakers wait; the others end,
// and Shutdown ends those waiting. A waiting goroutine holds no
// connection, and the garbage collector shrinks its unused stack.

// maxIdleShakers bounds the goroutines waiting for a connection to serve.
const maxIdleShakers = 64

// goServe runs c.serve on a waiting handshake goroutine, or on a new one.
func (s *Server) goServe(c *conn) {
	select {
	case s.handshakes <- c:
	default:
		go s.handshaker(c)
	}
}

// handshaker serves c, then the connections goServe hands it, until
// enough others wait or the server shuts down.
func (s *Server) handshaker(c *conn) {
	for {
		c.serve()
		if s.idleShakers.Add(1) > maxIdleShakers {
			s.idleShakers.Add(-1)
			return
		}
		select {
		case c = <-s.handshakes:
			s.idleShakers.Add(-1)
		case <-s.quit:
			s.idleShakers.Add(-1)
			return
		}
	}
}
