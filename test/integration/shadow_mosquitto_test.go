package integration

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
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

	pub(t, h, "-V", "mqttv5", "-i", "backend", "-q", "1", "-t", pre+"update", "-m", `{"state":{"reported":{"lock_state":1,"battery":83.4}},"clientToken":"t1"}`)
	acc := jsonOf(t, dev.waitLine(t, pre+"update/accepted "))
	require.Equal(t, "t1", acc["clientToken"])
	require.Equal(t, 1.0, acc["version"])
	docs := jsonOf(t, dev.waitLine(t, pre+"update/documents "))
	require.Equal(t, 1.0, docs["current"].(map[string]any)["version"])

	// Another client may not update lock-1's shadow nor read its topics.
	out, _ := mosquittoPub(t, port(h.mqtt), "-V", "mqttv5", "-i", "intruder", "-q", "1", "-t", pre+"update", "-m", `{"state":{"reported":{"lock_state":0}},"clientToken":"evil"}`)
	require.Contains(t, out, "Not authorized", "the PUBACK of an unauthorized publish is 0x87")
	spy := startSub(t, h, "-V", "mqttv5", "-i", "intruder2", "-t", pre+"update/accepted")
	require.Contains(t, spy.waitLine(t, "Subscribed"), ": 135", "SUBACK 0x87 Not authorized")

	// A desired change through the API reaches the device as a delta.
	code, body := apiCall(t, h, http.MethodPost, "/api/v1/devices/lock-1/shadow", apiKey, `{"state":{"desired":{"lock_state":0}}}`)
	require.Equal(t, http.StatusOK, code, body)
	delta := jsonOf(t, dev.waitLine(t, pre+"update/delta "))
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

	code, body := apiCall(t, h, http.MethodPost, "/api/v1/devices", apiKey, `{"id":"lock-1","groups":["fleet"]}`)
	require.Equal(t, http.StatusCreated, code, body)
	created := jsonOf(t, events.waitLine(t, "$aws/events/thing/lock-1/created "))
	require.Equal(t, "CREATED", created["operation"])

	code, body = apiCall(t, h, http.MethodPost, "/api/v1/jobs", apiKey, `{"job_id":"reboot-1","groups":["fleet"],"document":{"operation":"reboot"}}`)
	require.Equal(t, http.StatusCreated, code, body)
	next := jsonOf(t, dev.waitLine(t, pre+"notify-next "))
	require.Equal(t, map[string]any{"operation": "reboot"}, next["execution"].(map[string]any)["jobDocument"])

	pub(t, h, "-V", "mqttv5", "-i", "backend", "-q", "1", "-t", pre+"reboot-1/update", "-m", `{"status":"SUCCEEDED","clientToken":"u1","includeJobExecutionState":true}`)
	acc := jsonOf(t, dev.waitLine(t, pre+"reboot-1/update/accepted "))
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
}
