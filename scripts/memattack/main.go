package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/iothub-dev/iothub/mqtt/packet"
)

// settings are the command line.
type settings struct {
	addr        string
	pid         int
	attack      string
	clients     int
	size        int
	messages    int
	hold        time.Duration
	clientID    string
	username    string
	password    string
	dialTimeout time.Duration
	out         io.Writer // the report
}

func main() {
	var s settings
	flag.StringVar(&s.addr, "addr", "127.0.0.1:1883", "the broker's MQTT address")
	flag.IntVar(&s.pid, "pid", 0, "the broker's process id (its memory is read from /proc)")
	flag.StringVar(&s.attack, "attack", "slow-subscribers", "slow-subscribers, partial-packets or partial-connects")
	flag.IntVar(&s.clients, "clients", 0, "subscribers or connections (0: 3 slow subscribers, 300 partial packets)")
	flag.IntVar(&s.size, "size", 0, "payload bytes (slow-subscribers, 0: 100000) or whole packet bytes (partial-*, 0: 1048576)")
	flag.IntVar(&s.messages, "messages", 3000, "slow-subscribers: messages published")
	flag.StringVar(&s.clientID, "client-id", "", "partial-packets: the client id of every connection (empty: one each)")
	flag.StringVar(&s.username, "u", "", "username to connect with (empty: none)")
	flag.StringVar(&s.password, "P", "", "password to connect with")
	flag.DurationVar(&s.hold, "hold", 5*time.Second, "how long the attack is held before it lets go")
	flag.Parse()
	s.dialTimeout, s.out = 10*time.Second, os.Stdout
	if err := run(s); err != nil {
		fmt.Fprintln(os.Stderr, "memattack:", err)
		os.Exit(1)
	}
}

func run(s settings) error {
	fmt.Fprintf(s.out, "before: %s\n", memory(s.pid))
	var err error
	switch s.attack {
	case "slow-subscribers":
		err = slowSubscribers(s, or(s.clients, 3), or(s.size, 100_000))
	case "partial-packets", "partial-connects":
		err = partialPackets(s, or(s.clients, 300), or(s.size, 1<<20), s.attack == "partial-connects")
	default:
		err = fmt.Errorf("unknown attack %q", s.attack)
	}
	if err != nil {
		return err
	}
	time.Sleep(2 * time.Second)
	fmt.Fprintf(s.out, "2 s after letting go: %s\n", memory(s.pid))
	return nil
}

func or(v, dflt int) int {
	if v == 0 {
		return dflt
	}
	return v
}

// memory reads a process's VmRSS and VmHWM in MB.
func memory(pid int) string {
	if pid == 0 {
		return "(no -pid)"
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return err.Error()
	}
	var rss, hwm int
	for _, l := range strings.Split(string(b), "\n") {
		_, _ = fmt.Sscanf(l, "VmRSS: %d kB", &rss)
		_, _ = fmt.Sscanf(l, "VmHWM: %d kB", &hwm)
	}
	return fmt.Sprintf("RSS %.1f MB (peak %.1f MB)", float64(rss)/1000, float64(hwm)/1000)
}

// connect opens a 3.1.1 session and waits for its CONNACK.
func connect(s settings, clientID string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", s.addr, s.dialTimeout)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	cp := &packet.Connect{Version: packet.V311, ClientID: clientID, CleanStart: true, KeepAlive: 600}
	if s.username != "" {
		cp.UsernameFlag, cp.Username, cp.PasswordFlag, cp.Password = true, s.username, true, []byte(s.password)
	}
	if err := send(c, cp); err != nil {
		_ = c.Close()
		return nil, err
	}
	_ = c.SetReadDeadline(time.Now().Add(s.dialTimeout))
	p, err := packet.ReadPacket(c, packet.V311, 1<<20)
	_ = c.SetReadDeadline(time.Time{})
	if ack, ok := p.(*packet.Connack); err == nil && (!ok || ack.ReasonCode != 0) {
		err = fmt.Errorf("refused: %v", p)
	}
	if err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("connack of %s: %w", clientID, err)
	}
	return c, nil
}

// send writes one packet.
func send(c net.Conn, p packet.Packet) error {
	b, err := p.AppendTo(nil, packet.V311)
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	_ = c.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write(b); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// slowSubscribers subscribes n clients that then never read (a 4 KiB
// receive buffer) and publishes messages of size bytes to them at QoS 0.
func slowSubscribers(s settings, n, size int) error {
	var conns []net.Conn
	defer func() { closeAll(conns) }()
	for i := range n {
		c, err := connect(s, fmt.Sprintf("memattack-slow-%d", i))
		if err != nil {
			return err
		}
		conns = append(conns, c)
		_ = c.(*net.TCPConn).SetReadBuffer(4096)
		err = send(c, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "memattack/#"}}})
		if err != nil {
			return err
		}
		if _, err := packet.ReadPacket(c, packet.V311, 1<<20); err != nil {
			return fmt.Errorf("suback: %w", err)
		}
	}
	pub, err := connect(s, "memattack-publisher")
	if err != nil {
		return err
	}
	conns = append(conns, pub)
	start := time.Now()
	if err := publishAll(pub, s.messages, size); err != nil {
		return err
	}
	fmt.Fprintf(s.out, "published %d messages of %d bytes to %d subscribers that do not read, in %v: %s\n",
		s.messages, size, n, time.Since(start).Round(time.Millisecond), memory(s.pid))
	time.Sleep(s.hold)
	fmt.Fprintf(s.out, "held %v: %s\n", s.hold, memory(s.pid))
	return nil
}

// publishAll writes count QoS 0 PUBLISH packets of size payload bytes.
func publishAll(c net.Conn, count, size int) error {
	b, err := (&packet.Publish{Topic: "memattack/x", Payload: make([]byte, size)}).AppendTo(nil, packet.V311)
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	w := bufio.NewWriterSize(c, 1<<20)
	for range count {
		_ = c.SetWriteDeadline(time.Now().Add(time.Minute))
		if _, err := w.Write(b); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	return nil
}

// partialPackets opens n connections that each send all but the last byte
// of a packet of size bytes: a PUBLISH after a CONNECT, or a CONNECT
// (unauthenticated) in place of one.
func partialPackets(s settings, n, size int, unauthenticated bool) error {
	var conns []net.Conn
	defer func() { closeAll(conns) }()
	cut := 0
	for i := range n {
		id := s.clientID
		if id == "" {
			id = fmt.Sprintf("memattack-partial-%d", i)
		}
		c, err := partialPacket(s, id, size, unauthenticated)
		if c != nil {
			conns = append(conns, c)
		}
		if err != nil {
			cut++
		}
	}
	fmt.Fprintf(s.out, "%d connections sent all but the last byte of a %d-byte packet (%d refused or cut while sending): %s\n",
		len(conns), size, cut, memory(s.pid))
	time.Sleep(s.hold)
	fmt.Fprintf(s.out, "held %v: %s; %d of the connections still open\n", s.hold, memory(s.pid), open(conns))
	return nil
}

// partialPacket sends all but the last byte of one packet.
func partialPacket(s settings, clientID string, size int, unauthenticated bool) (net.Conn, error) {
	var c net.Conn
	var err error
	first := byte(0x30) // PUBLISH QoS 0
	if unauthenticated {
		first = 0x10 // CONNECT
		c, err = net.DialTimeout("tcp", s.addr, s.dialTimeout)
	} else {
		c, err = connect(s, clientID)
	}
	if err != nil {
		return nil, err
	}
	remaining := size - 1 - packet.VarIntLen(size)
	hdr := packet.AppendVarInt([]byte{first}, remaining)
	_ = c.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write(hdr); err != nil {
		return c, fmt.Errorf("write: %w", err)
	}
	chunk := make([]byte, 64<<10)
	for left := remaining - 1; left > 0; {
		k, err := c.Write(chunk[:min(left, len(chunk))])
		if err != nil {
			return c, fmt.Errorf("write: %w", err)
		}
		left -= k
	}
	return c, nil
}

// open counts the connections the broker has not closed.
func open(conns []net.Conn) int {
	n := 0
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		var ne net.Error
		if _, err := c.Read(make([]byte, 1)); errors.As(err, &ne) && ne.Timeout() {
			n++
		}
	}
	return n
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		_ = c.Close()
	}
}
