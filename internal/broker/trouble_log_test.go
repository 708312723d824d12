package broker_test

import (
	"bytes"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/mqtt/packet"
)

// logBuffer collects a broker's log lines for assertions.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lines returns the lines holding every one of want.
func (l *logBuffer) lines(want ...string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, ln := range strings.Split(l.b.String(), "\n") {
		ok := ln != ""
		for _, w := range want {
			ok = ok && strings.Contains(ln, w)
		}
		if ok {
			out = append(out, ln)
		}
	}
	return out
}

// withLog sends the broker's log at level and above to a logBuffer.
func withLog(level slog.Level) (*logBuffer, func(*broker.Options)) {
	buf := &logBuffer{}
	return buf, func(o *broker.Options) {
		o.Logger = slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: level}))
	}
}

// TestTroubleLog_drops: drops are logged, one warning per reason and per
// 10 s with the number suppressed since, besides being counted.
func TestTroubleLog_drops(t *testing.T) {
	logs, withLogs := withLog(slog.LevelInfo)
	s, addr := testutil.StartBroker(t, func(o *broker.Options) {
		withLogs(o)
		o.MaxQueuedMessages = 1
	})
	offlineSubscriber(t, recordEvents(t, s), addr, "dev", "q", nil)

	pub := connectV5(t, addr, "pub", nil)
	for range 4 {
		pub.publish(t, &paho.Publish{Topic: "q", QoS: 1, Payload: []byte("x")})
	}
	require.Equal(t, uint64(3), s.Stats().Dropped["queue_full"])
	got := logs.lines("messages dropped", "reason=queue_full")
	require.Len(t, got, 1, "one line per reason per 10 s; the rest go to debug")
	require.Contains(t, got[0], "level=WARN")
	require.Contains(t, got[0], "client_id=dev")
	require.Contains(t, got[0], "topic=q")
}

// TestTroubleLog_slowConsumer: a subscriber whose socket takes no bytes for
// write_timeout is disconnected, counted as slow_consumer and logged.
func TestTroubleLog_slowConsumer(t *testing.T) {
	logs, withLogs := withLog(slog.LevelWarn)
	s, addr := testutil.StartBroker(t, func(o *broker.Options) {
		withLogs(o)
		o.WriteTimeout = 200 * time.Millisecond
	})
	slow, _ := connectRaw(t, addr, "slow", nil)
	require.NoError(t, slow.conn.(*net.TCPConn).SetReadBuffer(4096))
	slow.subscribe(1, packet.Subscription{Filter: "big"})
	// From here on the slow client never reads.
	pub := connectV5(t, addr, "pub", nil)
	payload := make([]byte, 64<<10)
	testutil.Eventually(t, 30*time.Second, func() bool {
		pub.publish(t, &paho.Publish{Topic: "big", QoS: 0, Payload: payload})
		return s.Stats().Disconnects["slow_consumer"] == 1
	}, "the slow subscriber is disconnected")
	got := logs.lines("slow consumer", "client_id=slow")
	require.Len(t, got, 1)
	require.Contains(t, got[0], "level=WARN")
}

// TestTroubleLog_refusalsNamedAlike: a refused 3.1.1 CONNECT is counted
// under the same reason name as a refused MQTT 5 one.
func TestTroubleLog_refusalsNamedAlike(t *testing.T) {
	s, addr := secureBroker(t, nil, nil)
	_, err := dialV5(t, addr, "A", withLogin("lock-a", "wrong"))
	require.Error(t, err)
	rc := dialRaw(t, addr, packet.V311)
	rc.send(&packet.Connect{Version: packet.V311, ClientID: "A", CleanStart: true, KeepAlive: 30,
		UsernameFlag: true, Username: "lock-a", PasswordFlag: true, Password: []byte("wrong")})
	ack, ok := rc.read().(*packet.Connack)
	require.True(t, ok)
	require.Equal(t, packet.V311BadUsernameOrPassword, ack.ReasonCode)
	rc2 := dialRaw(t, addr, packet.V311)
	rc2.send(&packet.Connect{Version: packet.V311, ClientID: "A", CleanStart: true, KeepAlive: 30})
	ack, ok = rc2.read().(*packet.Connack)
	require.True(t, ok)
	require.Equal(t, packet.V311NotAuthorized, ack.ReasonCode)
	testutil.Eventually(t, 5*time.Second, func() bool {
		return s.Stats().ConnectsRefused["bad_user_name_or_password"] == 2
	}, "both versions' bad passwords under one name")
	st := s.Stats()
	require.Equal(t, map[string]int64{"bad_user_name_or_password": 2, "not_authorized": 1}, st.ConnectsRefused)
	require.Equal(t, map[string]int64{"bad_user_name_or_password": 2, "not_authorized": 1}, st.AuthFailedByReason)
}
