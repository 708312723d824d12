package integration

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/testutil"
)

// shadowACL lets the client "backend" use every thing's shadow topics; a
// thing may use its own without a rule (the device policy).
const shadowACL = `auth:
  acl:
    rules:
      - {permission: allow, who: {client_id: backend}, action: all, topics: ["$aws/things/+/shadow/#"]}
`

// jsonOf decodes the payload of a "MSG topic payload" line.
func jsonOf(t *testing.T, line string) map[string]any {
	t.Helper()
	parts := strings.SplitN(line, " ", 3)
	require.Len(t, parts, 3, line)
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(parts[2]), &m), line)
	return m
}

// TestShadow_mosquitto drives the shadow topics with Debian's mosquitto
// clients and the HTTP API: the thing reads its own topics, a backend with
// a rule updates them, another client can neither update nor subscribe,
// deltas follow desired changes made through the API, version conflicts
// and named shadows behave as AWS documents.
func TestShadow_mosquitto(t *testing.T) {
	t.Parallel()
	h := startHub(t, []string{"IOTHUB_API_KEY=" + apiKey}, "--config", writeConfig(t, shadowACL))
	pre := "$aws/things/lock-1/shadow/"
	dev := startSub(t, h, "-V", "mqttv5", "-i", "lock-1", "-q", "1", "-t", pre+"#")
	dev.waitLine(t, "Subscribed")
	// Shadow changes are a rule event source.
	audit := auditRule(t, h, "shadow_audit", "audit/shadow", "auditor",
		`SELECT topic, payload.current.state.reported.lock_state AS lock_state, payload.current.version AS version FROM "$aws/things/+/shadow/update/documents"`)

	pub(t, h, "-V", "mqttv5", "-i", "backend", "-q", "1", "-t", pre+"update", "-m", `{"state":{"reported":{"lock_state":1,"battery":83.4}},"clientToken":"t1"}`)
	acc := jsonOf(t, dev.waitLine(t, pre+"update/accepted "))
	require.Equal(t, "t1", acc["clientToken"])
	require.Equal(t, 1.0, acc["version"])
	docs := jsonOf(t, dev.waitLine(t, pre+"update/documents "))
	require.Equal(t, 1.0, docs["current"].(map[string]any)["version"])
	require.Equal(t, map[string]any{"topic": pre + "update/documents", "lock_state": 1.0, "version": 1.0},
		jsonOf(t, audit.waitLine(t, "audit/shadow ")), "the rule saw the shadow change")

	// Another client may not update lock-1's shadow nor read its topics.
	out, _ := mosquittoPub(t, port(h.mqtt), "-V", "mqttv5", "-i", "intruder", "-q", "1", "-t", pre+"update", "-m", `{"state":{"reported":{"lock_state":0}},"clientToken":"evil"}`)
	require.Contains(t, out, "Not authorized", "the PUBACK of an unauthorized publish is 0x87")
	spy := startSub(t, h, "-V", "mqttv5", "-i", "intruder2", "-t", pre+"update/accepted")
	require.Contains(t, spy.waitLine(t, "Subscribed"), ": 135", "SUBACK 0x87 Not authorized")
	// Nor may another thing (lock-2, which owns $aws/things/lock-2/…) get
	// lock-1's shadow or read its answers, nor a client named "+" (a
	// wildcard as its own thing name) read every thing's shadows.
	out, _ = mosquittoPub(t, port(h.mqtt), "-V", "mqttv5", "-i", "lock-2", "-q", "1", "-t", pre+"get", "-m", `{"clientToken":"peek"}`)
	require.Contains(t, out, "Not authorized")
	for id, filter := range map[string]string{"lock-2": pre + "get/accepted", "+": "$aws/things/+/shadow/#"} {
		spy = startSub(t, h, "-V", "mqttv5", "-i", id, "-t", filter)
		require.Contains(t, spy.waitLine(t, "Subscribed"), ": 135", "%s on %s: SUBACK 0x87 Not authorized", id, filter)
	}
	own := startSub(t, h, "-V", "mqttv5", "-i", "lock-2", "-t", "$aws/things/lock-2/shadow/#")
	require.Contains(t, own.waitLine(t, "Subscribed"), ": 0", "a thing subscribes to its own shadow's topics")
	// Answers are the hub's: not even an authorised backend may forge a
	// delta, nor a thing an accepted update on its own topics.
	for id, topic := range map[string]string{"backend": pre + "update/delta", "lock-2": "$aws/things/lock-2/shadow/update/accepted"} {
		out, _ = mosquittoPub(t, port(h.mqtt), "-V", "mqttv5", "-i", id, "-q", "1", "-t", topic, "-m", `{"state":{"lock_state":9},"version":99,"clientToken":"forged"}`)
		require.Contains(t, out, "Not authorized", "%s on %s", id, topic)
	}

	// A desired change through the API reaches the device as a delta.
	code, body := apiCall(t, h, http.MethodPost, "/api/v1/devices/lock-1/shadow", apiKey, `{"state":{"desired":{"lock_state":0}}}`)
	require.Equal(t, http.StatusOK, code, body)
	delta := jsonOf(t, dev.waitLineWithout(t, pre+"update/delta ", "peek", "forged"))
	require.Equal(t, map[string]any{"lock_state": 0.0}, delta["state"])
	require.Equal(t, 2.0, delta["version"])
	require.NotContains(t, h.logs.String(), `"evil"`)

	// A stale version is refused with AWS's 409, on MQTT and through the API.
	pub(t, h, "-V", "mqttv5", "-i", "backend", "-q", "1", "-t", pre+"update", "-m", `{"state":{"reported":{"lock_state":0}},"version":1,"clientToken":"stale"}`)
	rej := jsonOf(t, dev.waitLine(t, pre+"update/rejected "))
	require.Equal(t, map[string]any{"code": 409.0, "message": "Version conflict", "clientToken": "stale", "timestamp": rej["timestamp"]}, rej)
	code, body = apiCall(t, h, http.MethodPost, "/api/v1/devices/lock-1/shadow", apiKey, `{"state":{"desired":{"x":1}},"version":1}`)
	require.Equal(t, http.StatusConflict, code, body)
	require.Contains(t, body, `"code":"version_conflict"`)

	// GET through the API shows desired, reported and the delta.
	code, body = apiCall(t, h, http.MethodGet, "/api/v1/devices/lock-1/shadow", apiKey, "")
	require.Equal(t, http.StatusOK, code, body)
	var g map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &g))
	require.Equal(t, map[string]any{"lock_state": 0.0}, g["state"].(map[string]any)["delta"])
	require.Equal(t, 2.0, g["version"])

	// A named shadow, listed by the API; then the classic one deleted.
	pub(t, h, "-V", "mqttv5", "-i", "backend", "-q", "1", "-t", pre+"name/config/update", "-m", `{"state":{"desired":{"interval":60}}}`)
	dev.waitLine(t, pre+"name/config/update/accepted ")
	code, body = apiCall(t, h, http.MethodGet, "/api/v1/devices/lock-1/shadows", apiKey, "")
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"data":["config"]`)
	pub(t, h, "-V", "mqttv5", "-i", "backend", "-q", "1", "-t", pre+"delete", "-m", `{"clientToken":"d1"}`)
	del := jsonOf(t, dev.waitLine(t, pre+"delete/accepted "))
	require.Equal(t, 2.0, del["version"])
	code, body = apiCall(t, h, http.MethodGet, "/api/v1/devices/lock-1/shadow", apiKey, "")
	require.Equal(t, http.StatusNotFound, code, body)
	require.Contains(t, body, "No shadow exists with name: 'lock-1'")
	code, _ = apiCall(t, h, http.MethodGet, "/api/v1/devices/lock-1/shadow?name=config", apiKey, "")
	require.Equal(t, http.StatusOK, code)
}

// TestJobs_mosquitto runs a job on its raw topics with mosquitto clients:
// the thing sees notify-next for a job created through the API, a backend
// with a rule reports the execution, the job completes, registry and job
// events reach a subscriber of $aws/events/, and /metrics counts the
// requests.
func TestJobs_mosquitto(t *testing.T) {
	t.Parallel()
	cfg := `auth:
  acl:
    rules:
      - {permission: allow, who: {client_id: backend}, action: all, topics: ["$aws/things/+/jobs/#"]}
      - {permission: allow, who: {client_id: auditor}, action: subscribe, topics: ["$aws/events/#"]}
`
	h := startHub(t, []string{"IOTHUB_API_KEY=" + apiKey}, "--config", writeConfig(t, cfg))
	pre := "$aws/things/lock-1/jobs/"
	dev := startSub(t, h, "-V", "mqttv5", "-i", "lock-1", "-q", "1", "-t", pre+"#")
	dev.waitLine(t, "Subscribed")
	events := startSub(t, h, "-V", "mqttv5", "-i", "backend-events", "-t", "$aws/events/#")
	require.Contains(t, events.waitLine(t, "Subscribed"), ": 135", "$aws/events/ needs a rule")
	events = startSub(t, h, "-V", "mqttv5", "-i", "auditor", "-q", "1", "-t", "$aws/events/#")
	events.waitLine(t, "Subscribed")

	// Registry changes are a rule event source.
	audit := auditRule(t, h, "registry_audit", "audit/registry", "audit-sub",
		`SELECT payload.thingName AS thing, payload.operation AS op FROM "$aws/events/thing/+/+"`)

	code, body := apiCall(t, h, http.MethodPost, "/api/v1/devices", apiKey, `{"id":"lock-1","groups":["fleet"]}`)
	require.Equal(t, http.StatusCreated, code, body)
	created := jsonOf(t, events.waitLine(t, "$aws/events/thing/lock-1/created "))
	require.Equal(t, "CREATED", created["operation"])
	require.Equal(t, map[string]any{"thing": "lock-1", "op": "CREATED"}, jsonOf(t, audit.waitLine(t, "audit/registry ")))

	code, body = apiCall(t, h, http.MethodPost, "/api/v1/jobs", apiKey, `{"job_id":"reboot-1","groups":["fleet"],"document":{"operation":"reboot"}}`)
	require.Equal(t, http.StatusCreated, code, body)
	next := jsonOf(t, dev.waitLine(t, pre+"notify-next "))
	require.Equal(t, map[string]any{"operation": "reboot"}, next["execution"].(map[string]any)["jobDocument"])

	// Another thing may neither follow nor report lock-1's executions.
	spy := startSub(t, h, "-V", "mqttv5", "-i", "lock-2", "-t", pre+"notify-next")
	require.Contains(t, spy.waitLine(t, "Subscribed"), ": 135", "SUBACK 0x87 Not authorized")
	out, _ := mosquittoPub(t, port(h.mqtt), "-V", "mqttv5", "-i", "lock-2", "-q", "1", "-t", pre+"reboot-1/update", "-m", `{"status":"FAILED"}`)
	require.Contains(t, out, "Not authorized")

	pub(t, h, "-V", "mqttv5", "-i", "backend", "-q", "1", "-t", pre+"reboot-1/update", "-m", `{"status":"SUCCEEDED","clientToken":"u1","includeJobExecutionState":true}`)
	acc := jsonOf(t, dev.waitLineWithout(t, pre+"reboot-1/update/accepted ", "FAILED"))
	require.Equal(t, "SUCCEEDED", acc["executionState"].(map[string]any)["status"])
	require.Equal(t, "u1", acc["clientToken"])
	events.waitLine(t, "$aws/events/jobExecution/reboot-1/succeeded ")
	events.waitLine(t, "$aws/events/job/reboot-1/completed ")
	code, body = apiCall(t, h, http.MethodGet, "/api/v1/jobs/reboot-1", apiKey, "")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `"status":"COMPLETED"`)

	pub(t, h, "-V", "mqttv5", "-i", "backend", "-q", "1", "-t", pre+"reboot-1/update", "-m", `{"status":"IN_PROGRESS"}`)
	rej := jsonOf(t, dev.waitLine(t, pre+"reboot-1/update/rejected "))
	require.Equal(t, "InvalidStateTransition", rej["code"])
	_, metrics := apiCall(t, h, http.MethodGet, "/metrics", "", "")
	require.Contains(t, metrics, `iothub_jobs_requests_total{result="accepted"} 1`)
	require.Contains(t, metrics, `iothub_jobs_requests_total{result="rejected"} 1`)

	// A job canceled with force cancels the execution in progress, and the
	// thing is told it has nothing left; the list shows both jobs.
	code, body = apiCall(t, h, http.MethodPost, "/api/v1/jobs", apiKey, `{"job_id":"reboot-2","targets":["lock-1"],"document":{"operation":"reboot"}}`)
	require.Equal(t, http.StatusCreated, code, body)
	dev.waitLine(t, pre+"notify-next ")
	pub(t, h, "-V", "mqttv5", "-i", "backend", "-q", "1", "-t", pre+"reboot-2/update", "-m", `{"status":"IN_PROGRESS"}`)
	dev.waitLine(t, pre+"reboot-2/update/accepted ")
	code, body = apiCall(t, h, http.MethodPost, "/api/v1/jobs/reboot-2/cancel", apiKey, `{"force":true,"comment":"stop"}`)
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"executions":{"CANCELED":1}`)
	require.NotContains(t, jsonOf(t, dev.waitLine(t, pre+"notify-next ")), "execution", "nothing left for lock-1")
	code, body = apiCall(t, h, http.MethodGet, "/api/v1/jobs", apiKey, "")
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"job_id":"reboot-1"`)
	require.Contains(t, body, `"job_id":"reboot-2"`)

	// Deleting the device from the registry makes its pending execution
	// REMOVED, and the job, with nothing else pending, COMPLETED.
	code, body = apiCall(t, h, http.MethodPost, "/api/v1/jobs", apiKey, `{"job_id":"reboot-3","targets":["lock-1"],"document":{"operation":"reboot"}}`)
	require.Equal(t, http.StatusCreated, code, body)
	dev.waitLine(t, pre+"notify-next ")
	code, body = apiCall(t, h, http.MethodDelete, "/api/v1/devices/lock-1", apiKey, "")
	require.Equal(t, http.StatusOK, code, body)
	require.NotContains(t, jsonOf(t, dev.waitLine(t, pre+"notify-next ")), "execution")
	events.waitLine(t, "$aws/events/jobExecution/reboot-3/removed ")
	code, body = apiCall(t, h, http.MethodGet, "/api/v1/jobs/reboot-3", apiKey, "")
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"status":"COMPLETED"`)
	require.Contains(t, body, `"executions":{"REMOVED":1}`)
}

// TestJobs_surviveKill kills the hub (SIGKILL) right after a job's
// execution was reported IN_PROGRESS and restarts it on the same data
// directory: the job, its executions and their states are back (they are
// written to the store before an answer is sent), the device lists its
// pending execution, and the job runs on to COMPLETED. The thing's shadow,
// updated just before the kill, is back too.
func TestJobs_surviveKill(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := writeConfig(t, `auth:
  acl:
    rules:
      - {permission: allow, who: {client_id: backend}, action: all, topics: ["$aws/things/+/jobs/#"]}
`)
	env := []string{"IOTHUB_API_KEY=" + apiKey}
	h := startHubIn(t, dir, env, "--config", cfg)
	for _, id := range []string{"lock-1", "lock-2"} {
		code, body := apiCall(t, h, http.MethodPost, "/api/v1/devices", apiKey, `{"id":"`+id+`","groups":["fleet"]}`)
		require.Equal(t, http.StatusCreated, code, body)
	}
	code, body := apiCall(t, h, http.MethodPost, "/api/v1/jobs", apiKey,
		`{"job_id":"fw-2","groups":["fleet"],"document":{"operation":"firmware-update"},"in_progress_timeout":"1h"}`)
	require.Equal(t, http.StatusCreated, code, body)
	pre := "$aws/things/lock-1/jobs/"
	dev := startSub(t, h, "-V", "mqttv5", "-i", "lock-1", "-q", "1", "-t", pre+"#")
	dev.waitLine(t, "Subscribed")
	pub(t, h, "-V", "mqttv5", "-i", "backend", "-q", "1", "-t", pre+"fw-2/update", "-m", `{"status":"IN_PROGRESS","statusDetails":{"step":"download"}}`)
	dev.waitLine(t, pre+"fw-2/update/accepted ")
	code, body = apiCall(t, h, http.MethodPost, "/api/v1/devices/lock-1/shadow", apiKey, `{"state":{"reported":{"fw":"1.1","step":"download"}}}`)
	require.Equal(t, http.StatusOK, code, body)

	require.NoError(t, h.cmd.Process.Kill())
	<-h.exited
	h = startHubIn(t, dir, env, "--config", cfg)

	code, body = apiCall(t, h, http.MethodGet, "/api/v1/jobs/fw-2", apiKey, "")
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"status":"IN_PROGRESS"`)
	require.Contains(t, body, `"executions":{"IN_PROGRESS":1,"QUEUED":1}`)
	code, body = apiCall(t, h, http.MethodGet, "/api/v1/devices/lock-1/shadow", apiKey, "")
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"reported":{"fw":"1.1","step":"download"}`)
	require.Contains(t, body, `"version":1`)
	dev = startSub(t, h, "-V", "mqttv5", "-i", "lock-1", "-q", "1", "-t", pre+"#")
	dev.waitLine(t, "Subscribed")
	pub(t, h, "-V", "mqttv5", "-i", "backend", "-q", "1", "-t", pre+"get", "-m", `{"clientToken":"after-kill"}`)
	pending := jsonOf(t, dev.waitLine(t, pre+"get/accepted "))
	require.Equal(t, "after-kill", pending["clientToken"])
	inProgress := pending["inProgressJobs"].([]any)
	require.Len(t, inProgress, 1)
	require.Equal(t, "fw-2", inProgress[0].(map[string]any)["jobId"])
	require.Equal(t, 2.0, inProgress[0].(map[string]any)["versionNumber"], "QUEUED (1) then IN_PROGRESS (2)")

	for _, id := range []string{"lock-1", "lock-2"} {
		pub(t, h, "-V", "mqttv5", "-i", "backend", "-q", "1", "-t", "$aws/things/"+id+"/jobs/fw-2/update", "-m", `{"status":"SUCCEEDED"}`)
	}
	testutil.Eventually(t, 15*time.Second, func() bool {
		_, body = apiCall(t, h, http.MethodGet, "/api/v1/jobs/fw-2", apiKey, "")
		return strings.Contains(body, `"status":"COMPLETED"`)
	}, "the job completes after the restart")
	code, body = apiCall(t, h, http.MethodGet, "/api/v1/jobs/fw-2/executions", apiKey, "")
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"status_details":{"step":"download"}`, "details reported before the kill are kept")
}

// auditRule creates rule id, which republishes what sql selects to topic
// (QoS 1), and returns a mosquitto_sub with client id subID on audit/#.
func auditRule(t *testing.T, h *hub, id, topic, subID, sql string) *sub {
	t.Helper()
	rule, err := json.Marshal(map[string]any{"id": id, "sql": sql,
		"actions": []map[string]any{{"type": "republish", "topic": topic, "qos": 1}}})
	require.NoError(t, err)
	code, body := apiCall(t, h, http.MethodPost, "/api/v1/rules", apiKey, string(rule))
	require.Equal(t, http.StatusCreated, code, body)
	audit := startSub(t, h, "-V", "mqttv5", "-i", subID, "-q", "1", "-t", "audit/#")
	audit.waitLine(t, "Subscribed")
	return audit
}
