package api_test

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/testutil"
)

// doorlockCommand is the reference system's unlock command.
func doorlockCommand(t *testing.T) json.RawMessage {
	t.Helper()
	b, err := os.ReadFile(testutil.ScenarioPath(t, "doorlock/command.json"))
	require.NoError(t, err)
	return json.RawMessage(b)
}

type cmdAnswer struct {
	status int
	body   map[string]any
}

// TestCommand_ackedOnlyAfterDeviceAck holds the lock's PUBACK (paho's
// manual acknowledgment) and checks that the API answers acked only after
// the lock sent it.
func TestCommand_ackedOnlyAfterDeviceAck(t *testing.T) {
	e := newEnv(t, nil)
	lock := connectDevice(t, e.mqtt, "10083618796833171", true, false)
	lock.subscribe(t, "devices/10083618796833171/command", 1)

	answers := make(chan cmdAnswer, 1)
	go func() {
		st, b := e.call(t, http.MethodPost, "/api/v1/devices/10083618796833171/commands",
			map[string]any{"payload": doorlockCommand(t), "wait": "acked", "timeout": "60s"})
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		answers <- cmdAnswer{st, m}
	}()
	p := lock.next(t)
	require.Equal(t, "devices/10083618796833171/command", p.Topic)
	require.JSONEq(t, string(doorlockCommand(t)), string(p.Payload))
	// The hub wrote the command and still waits for its PUBACK.
	testutil.Eventually(t, 10*time.Second, func() bool {
		ci, ok := e.b.Client("10083618796833171")
		return ok && ci.Inflight == 1
	}, "command inflight")
	select {
	case a := <-answers:
		t.Fatalf("answered %d %v before the lock acknowledged", a.status, a.body)
	default:
	}
	ackedAt := time.Now()
	require.NoError(t, lock.Ack(p))
	var a cmdAnswer
	select {
	case a = <-answers:
	case <-time.After(30 * time.Second):
		t.Fatal("no answer within 30s of the PUBACK")
	}
	require.Equal(t, http.StatusOK, a.status, "%v", a.body)
	require.Equal(t, "acked", a.body["status"])
	acked, err := time.Parse(time.RFC3339Nano, a.body["acked_at"].(string))
	require.NoError(t, err)
	require.False(t, acked.Before(ackedAt), "acked_at %v is before the device acknowledged (%v)", acked, ackedAt)
	require.NotEmpty(t, a.body["delivered_at"])
}

func TestCommand_queuedThenDeliveredOnReconnect(t *testing.T) {
	e := newEnv(t, nil)
	lock := connectDevice(t, e.mqtt, "lock-q", false, true)
	lock.subscribe(t, "devices/lock-q/command", 1)
	require.NoError(t, lock.Disconnect(&paho.Disconnect{}))
	testutil.Eventually(t, 10*time.Second, func() bool {
		ci, ok := e.b.Client("lock-q")
		return ok && !ci.Connected
	}, "lock offline")

	st, b := e.call(t, http.MethodPost, "/api/v1/devices/lock-q/commands", map[string]any{"payload": doorlockCommand(t)})
	require.Equal(t, http.StatusAccepted, st, "%s", b)
	require.Equal(t, "queued", obj(t, b)["status"])

	lock = connectDevice(t, e.mqtt, "lock-q", false, true)
	p := lock.next(t)
	require.Equal(t, "devices/lock-q/command", p.Topic)
	require.JSONEq(t, string(doorlockCommand(t)), string(p.Payload))
}

func TestCommand_outcomes(t *testing.T) {
	e := newEnv(t, nil)
	connectDevice(t, e.mqtt, "online", false, false)
	tests := []struct {
		name, client string
		body         map[string]any
		status       int
		want         string
	}{
		{"unknown device", "nobody", map[string]any{"payload": "x"}, http.StatusNotFound, "no_session"},
		{"wait none", "online", map[string]any{"payload": "x", "wait": "none"}, http.StatusAccepted, "sent"},
		// The device's PUBACK may overtake the writer's report: acked
		// says more than delivered.
		{"wait delivered", "online", map[string]any{"payload": "x", "wait": "delivered"}, http.StatusOK, "delivered|acked"},
		{"qos 0", "online", map[string]any{"payload": "x", "qos": 0}, http.StatusOK, "delivered"},
		{"acked", "online", map[string]any{"payload": "x", "topic": "custom/topic", "qos": 2}, http.StatusOK, "acked"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, b := e.call(t, http.MethodPost, "/api/v1/devices/"+tc.client+"/commands", tc.body)
			require.Equal(t, tc.status, st, "%s", b)
			m := obj(t, b)
			require.Contains(t, strings.Split(tc.want, "|"), m["status"])
			if st >= 400 {
				require.Equal(t, tc.want, m["code"])
				require.NotEmpty(t, m["message"])
			}
		})
	}
}

func TestCommand_timeoutWhenDeviceNeverAcks(t *testing.T) {
	e := newEnv(t, nil)
	lock := connectDevice(t, e.mqtt, "silent", true, false)
	st, b := e.call(t, http.MethodPost, "/api/v1/devices/silent/commands", map[string]any{"payload": "x", "timeout": "200ms"})
	require.Equal(t, http.StatusGatewayTimeout, st, "%s", b)
	m := obj(t, b)
	require.Equal(t, "timeout", m["status"])
	require.Equal(t, "timeout", m["code"])
	require.NotEmpty(t, m["delivered_at"], "written to the device, not acknowledged")
	lock.next(t)
}

// A clean-session device that leaves before acknowledging takes its
// session with it: the command is answered dropped, session_ended, without
// waiting for the timeout.
func TestCommand_droppedWhenSessionEndsUnacked(t *testing.T) {
	e := newEnv(t, nil)
	lock := connectDevice(t, e.mqtt, "leaving", true, false)
	go func() {
		<-lock.msgs // received, never acknowledged
		_ = lock.Disconnect(&paho.Disconnect{})
	}()
	st, b := e.call(t, http.MethodPost, "/api/v1/devices/leaving/commands", map[string]any{"payload": "x", "timeout": "60s"})
	require.Equal(t, http.StatusConflict, st, "%s", b)
	m := obj(t, b)
	require.Equal(t, "dropped", m["status"])
	require.Equal(t, "session_ended", m["reason"])
}

func TestRPC_roundTrip(t *testing.T) {
	e := newEnv(t, nil)
	dev := connectDevice(t, e.mqtt, "thermo-1", false, false)
	dev.subscribe(t, "devices/thermo-1/command", 1)
	go func() {
		p := <-dev.msgs
		_, _ = dev.Publish(t.Context(), &paho.Publish{
			Topic: p.Properties.ResponseTopic, QoS: 1, Payload: []byte(`{"temp":21.5}`),
			Properties: &paho.PublishProperties{CorrelationData: p.Properties.CorrelationData, ContentType: "application/json",
				User: paho.UserProperties{{Key: "unit", Value: "C"}}},
		})
	}()
	st, b := e.call(t, http.MethodPost, "/api/v1/devices/thermo-1/rpc", map[string]any{"payload": map[string]string{"method": "get_temp"}, "timeout": "20s"})
	require.Equal(t, http.StatusOK, st, "%s", b)
	m := obj(t, b)
	require.Equal(t, "replied", m["status"])
	require.JSONEq(t, `{"temp":21.5}`, m["payload"].(string))
	require.Equal(t, "devices/thermo-1/reply", m["response_topic"])
	props := m["properties"].(map[string]any)
	require.Equal(t, "application/json", props["content_type"])
	require.Equal(t, map[string]any{"unit": "C"}, props["user_properties"])
}

func TestRPC_timeoutAndErrors(t *testing.T) {
	e := newEnv(t, nil)
	connectDevice(t, e.mqtt, "mute", false, false)
	e.requireError(t, http.MethodPost, "/api/v1/devices/mute/rpc", map[string]any{"payload": "ping", "timeout": "200ms"}, http.StatusGatewayTimeout, "timeout")

	e.requireError(t, http.MethodPost, "/api/v1/devices/nobody/rpc", map[string]any{"payload": "ping"}, http.StatusNotFound, "no_session")
}
