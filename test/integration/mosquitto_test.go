package integration

import (
	"fmt"
	"syscall"
	"testing"
)

// versions are the protocol versions mosquitto's clients speak to the hub.
var versions = []string{"mqttv311", "mqttv5"}

// eachVersion runs body once per MQTT version of the mosquitto clients,
// each a subtest, against one hub.
func eachVersion(t *testing.T, body func(t *testing.T, h *hub, v string)) {
	t.Helper()
	t.Parallel()
	h := startHub(t, nil)
	for _, v := range versions {
		t.Run(v, func(t *testing.T) { body(t, h, v) })
	}
}

func TestMosquitto_pubSub_allQoS(t *testing.T) {
	t.Parallel()
	h := startHub(t, nil)
	for _, v := range versions {
		for _, qos := range []string{"0", "1", "2"} {
			t.Run(v+"/qos"+qos, func(t *testing.T) {
				topic := fmt.Sprintf("it/%s/%s", v, qos)
				s := startSub(t, h, "-V", v, "-q", qos, "-t", topic, "-C", "1")
				s.waitLine(t, "received SUBACK")
				pub(t, h, "-V", v, "-q", qos, "-t", topic, "-m", "hello-"+qos)
				s.waitLine(t, "MSG "+topic+" hello-"+qos)
			})
		}
	}
}

func TestMosquitto_retained(t *testing.T) {
	eachVersion(t, func(t *testing.T, h *hub, v string) {
		topic := "it/retained/" + v
		pub(t, h, "-V", v, "-q", "1", "-r", "-t", topic, "-m", "last-state")
		s := startSub(t, h, "-V", v, "-t", topic, "-C", "1")
		s.waitLine(t, "MSG "+topic+" last-state")
		// An empty retained payload clears it: a new subscriber then
		// gets only what is published after it subscribed.
		pub(t, h, "-V", v, "-r", "-t", topic, "-n")
		s2 := startSub(t, h, "-V", v, "-t", topic, "-C", "1")
		s2.waitLine(t, "received SUBACK")
		pub(t, h, "-V", v, "-t", topic, "-m", "fresh")
		s2.waitLine(t, "MSG "+topic+" fresh")
	})
}

func TestMosquitto_will(t *testing.T) {
	eachVersion(t, func(t *testing.T, h *hub, v string) {
		willTopic := "it/will/" + v
		watcher := startSub(t, h, "-V", v, "-t", willTopic, "-C", "1")
		watcher.waitLine(t, "received SUBACK")
		dying := startSub(t, h, "-V", v, "-t", "it/nothing", "--will-topic", willTopic, "--will-payload", "gone", "--will-qos", "1")
		dying.waitLine(t, "received SUBACK")
		// Killed without DISCONNECT: the hub must publish the will.
		_ = dying.cmd.Process.Signal(syscall.SIGKILL)
		watcher.waitLine(t, "MSG "+willTopic+" gone")
	})
}

func TestMosquitto_persistentSession(t *testing.T) {
	eachVersion(t, func(t *testing.T, h *hub, v string) {
		id := "lock-" + v
		topic := "devices/" + id + "/command"
		args := []string{"-V", v, "-i", id, "-c", "-q", "1", "-t", topic}
		if v == "mqttv5" {
			args = append(args, "-x", "3600") // session expiry interval
		}
		first := startSub(t, h, append(args, "-C", "1")...)
		first.waitLine(t, "received SUBACK")
		pub(t, h, "-V", v, "-q", "1", "-t", topic, "-m", "warmup")
		first.waitLine(t, "MSG "+topic+" warmup")
		<-first.done // -C 1: it disconnected after one message
		// Offline now: a QoS 1 command is queued in its session.
		pub(t, h, "-V", v, "-q", "1", "-t", topic, "-m", "unlock")
		again := startSub(t, h, append(args, "-C", "1")...)
		again.waitLine(t, "MSG "+topic+" unlock")
	})
}
