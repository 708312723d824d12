package broker_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/mqtt/packet"
)

// roundTripClientEnv makes the test binary a client that publishes
// roundTrips QoS 1 messages one at a time to the address it names (see
// TestMain), so that the hub's reads can be counted without the client's.
const roundTripClientEnv = "IOTHUB_TEST_ROUND_TRIP_CLIENT"

const roundTrips = 400

func TestMain(m *testing.M) {
	if addr := os.Getenv(roundTripClientEnv); addr != "" {
		if err := roundTripClient(addr); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		// Done; not reaped until the parent counted (a reaped child's
		// reads are added to its parent's).
		_, _ = os.Stdout.WriteString("done\n")
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// roundTripClient connects to addr and publishes roundTrips QoS 1
// messages, each after the PUBACK of the one before.
func roundTripClient(addr string) error {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer func() { _ = nc.Close() }()
	_ = nc.SetDeadline(time.Now().Add(60 * time.Second))
	r := bufio.NewReader(nc)
	send := func(p packet.Packet) error {
		b, err := p.AppendTo(nil, packet.V5)
		if err == nil {
			_, err = nc.Write(b)
		}
		return err
	}
	if err := send(&packet.Connect{Version: packet.V5, ClientID: "round-trips", CleanStart: true, KeepAlive: 60}); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if _, err := packet.ReadPacket(r, packet.V5, 1<<20); err != nil {
		return fmt.Errorf("connack: %w", err)
	}
	for i := 1; i <= roundTrips; i++ {
		if err := send(&packet.Publish{QoS: 1, PacketID: uint16(i), Topic: "rt/x", Payload: []byte("42")}); err != nil {
			return fmt.Errorf("publish %d: %w", i, err)
		}
		p, err := packet.ReadPacket(r, packet.V5, 1<<20)
		if err != nil {
			return fmt.Errorf("puback %d: %w", i, err)
		}
		if ack, ok := p.(*packet.Ack); !ok || ack.PacketID != uint16(i) {
			return fmt.Errorf("want PUBACK %d, got %v", i, p)
		}
	}
	return send(&packet.Disconnect{})
}

// readSyscalls is this process's count of read system calls so far.
func readSyscalls(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/io")
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "syscr: "); ok {
			n, err := strconv.Atoi(v)
			require.NoError(t, err)
			return n
		}
	}
	t.Fatal("no syscr in /proc/self/io")
	return 0
}

// A device that publishes one packet at a time costs the hub one read(2)
// per packet, not two (a read finding nothing before each wait): the raw
// loop waits for the socket's readiness instead. The client is another
// process, so only the hub's reads are counted.
func TestRawLoop_oneReadPerPacket(t *testing.T) {
	if _, err := os.Stat("/proc/self/io"); err != nil {
		t.Skip("no /proc/self/io on this system")
	}
	s, addr := testutil.StartBroker(t, nil)
	before := readSyscalls(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$") //nolint:gosec // the test binary itself
	cmd.Env = append(os.Environ(), roundTripClientEnv+"="+addr)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err, "the round-trip client")
	require.Equal(t, "done\n", line)
	reads := readSyscalls(t) - before
	_ = stdin.Close()
	require.NoError(t, cmd.Wait())
	require.EqualValues(t, roundTrips, s.Stats().MessagesIn)
	t.Logf("%d reads for %d packets", reads, roundTrips)
	require.Less(t, reads, roundTrips*5/4, "about one read per packet (up to two without the raw loop)")
}

// Kicks and takeovers of a connection whose reader is busy in the raw
// loop close it at once, and leave no descriptor behind: the close is
// handed to the reader (net.Conn.Close would wait for its callback).
func TestRawLoop_closeWhileBusy(t *testing.T) {
	s, addr := testutil.StartBroker(t, nil)
	base := openDescriptors(t)
	for round := range 12 {
		id := fmt.Sprintf("busy-%d", round)
		rc, _ := connectRaw(t, addr, id, nil)
		b, err := (&packet.Publish{Topic: "busy/x", Payload: make([]byte, 64)}).AppendTo(nil, packet.V5)
		require.NoError(t, err)
		burst := []byte(strings.Repeat(string(b), 16))
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range 20000 { // bounded: the close ends it much sooner
				_ = rc.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
				if _, err := rc.conn.Write(burst); err != nil {
					return
				}
			}
		}()
		in := s.Stats().MessagesIn
		testutil.Eventually(t, 10*time.Second, func() bool { return s.Stats().MessagesIn > in+1000 }, "the hub is reading the stream")
		want, again := packet.AdministrativeAction, (*rawClient)(nil)
		if round%2 == 0 {
			require.NoError(t, s.Kick(id))
		} else {
			again, _ = connectRaw(t, addr, id, nil)
			want = packet.SessionTakenOver
		}
		// closed fails the test unless the hub closes within 5 s; the
		// DISCONNECT before it can be lost to the reset that closing a
		// socket with unread bytes sends.
		if d := rc.closed(); d != nil {
			require.Equal(t, want, d.ReasonCode)
		}
		<-done
		_ = rc.conn.Close()
		if again != nil {
			_ = again.conn.Close()
		}
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return s.Stats().Connections == 0 }, "every connection gone")
	testutil.Eventually(t, 10*time.Second, func() bool { return openDescriptors(t) <= base },
		fmt.Sprintf("no descriptor left behind (%d, was %d)", openDescriptors(t), base))
}
