// Package netpoll parks idle TCP connections in one shared epoll set, so
// that a connection with nothing to read holds no goroutine.
//
// Go's net package keeps one goroutine blocked in Read per connection; its
// stack (2 KiB at least, more once it has grown) is most of what an idle
// MQTT connection costs. A server that expects many mostly idle devices can
// instead Arm a connection it has found idle: the Poller watches the socket
// with EPOLLONESHOT and calls the Waker once, from the poller's goroutine,
// when bytes arrive, the peer hangs up or the socket fails. The Waker then
// starts a reader goroutine again. Disarm withdraws an arming (before the
// owner closes the socket, say).
//
// The Poller only watches: all reads still go through the net.Conn, so Go's
// own poller, deadlines and Close keep working unchanged. The socket stays
// registered with the runtime's epoll as well; Linux allows one file in
// several epoll sets.
//
// New fails with errors.ErrUnsupported on systems without epoll; callers
// then keep the goroutine per connection.
package netpoll
