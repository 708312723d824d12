package integration

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
)

// vehicleProto is the vehicles scenario's telemetry as a protobuf schema,
// with a command message for the way down.
const vehicleProto = `syntax = "proto3";
package tesla;

message Telemetry {
  string vin = 1;
  double speed = 2;
  int32 soc = 3;
  string shift_state = 4;
  Location location = 5;
  int64 timestamp = 6;
}
message Location { double latitude = 1; double longitude = 2; }

enum Action { NONE = 0; LOCK = 1; UNLOCK = 2; HONK = 3; }
message Command { Action action = 1; string nonce = 2; int64 ts = 3; }
`

// telemetryFrame encodes a Telemetry by hand (protowire), so that what the
// device sends does not come from the code under test.
func telemetryFrame() []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, "EDF226K7LZTZ51222")
	b = protowire.AppendTag(b, 2, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, math.Float64bits(39.5))
	b = protowire.AppendTag(b, 3, protowire.VarintType)
	b = protowire.AppendVarint(b, 87)
	b = protowire.AppendTag(b, 4, protowire.BytesType)
	b = protowire.AppendString(b, "D")
	var loc []byte
	loc = protowire.AppendTag(loc, 1, protowire.Fixed64Type)
	loc = protowire.AppendFixed64(loc, math.Float64bits(83.3494))
	loc = protowire.AppendTag(loc, 2, protowire.Fixed64Type)
	loc = protowire.AppendFixed64(loc, math.Float64bits(141.9851))
	b = protowire.AppendTag(b, 5, protowire.BytesType)
	b = protowire.AppendBytes(b, loc)
	b = protowire.AppendTag(b, 6, protowire.VarintType)
	b = protowire.AppendVarint(b, 1681704127537)
	return b
}

// TestSchema_protobufUpAndDown registers a schema through the API of the
// built binary; a vehicle (paho, MQTT 5) publishes a protobuf frame, a
// rule decodes it and republishes JSON, which a subscriber gets; a JSON
// command published through the API is encoded by a second rule and the
// vehicle gets the protobuf frame. A .proto with a mistake is refused
// with its line and column.
func TestSchema_protobufUpAndDown(t *testing.T) {
	t.Parallel()
	const key = "schema-test-key-0123456789"
	h := startHub(t, []string{"IOTHUB_API_KEY=" + key})

	code, body := apiCall(t, h, http.MethodPost, "/api/v1/schemas", key,
		`{"name":"bad","source":"syntax = \"proto3\";\nmessage T {\n  string vin = ;\n}"}`)
	require.Equal(t, http.StatusBadRequest, code, body)
	require.Contains(t, body, `"code":"invalid_schema"`)
	require.Contains(t, body, `line 3, column 16`)

	src, err := json.Marshal(map[string]string{"name": "vehicle", "type": "protobuf", "source": vehicleProto})
	require.NoError(t, err)
	code, body = apiCall(t, h, http.MethodPost, "/api/v1/schemas", key, string(src))
	require.Equal(t, http.StatusCreated, code, body)
	require.Contains(t, body, `"messages":["tesla.Command","tesla.Location","tesla.Telemetry"]`)

	for _, r := range []string{
		`{"id":"pb_up","sql":"SELECT clientid, schema_decode('vehicle', payload, 'Telemetry') AS t FROM \"pb/+/telemetry\" WHERE t.soc > 20",
		  "actions":[{"type":"republish","topic":"json/${clientid}/telemetry","qos":1}]}`,
		`{"id":"pb_down","sql":"SELECT schema_encode('vehicle', payload, 'Command') AS frame, nth(2, split(topic, '/')) AS vin FROM \"json/+/command\"",
		  "actions":[{"type":"republish","topic":"pb/${vin}/command","qos":1,"payload":"${frame}"}]}`,
	} {
		code, body = apiCall(t, h, http.MethodPost, "/api/v1/rules", key, r)
		require.Equal(t, http.StatusCreated, code, body)
	}

	got := make(chan *paho.Publish, 4)
	onMsg := paho.ClientConfig{OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(pr paho.PublishReceived) (bool, error) { got <- pr.Packet; return true, nil }}}
	backend := pahoDeviceV5(t, h, "backend", onMsg, true)
	car := pahoDeviceV5(t, h, "tesla-1", onMsg, true)
	subscribe1(t, backend, "json/+/telemetry")
	subscribe1(t, car, "pb/tesla-1/command")

	publish1(t, car, "pb/tesla-1/telemetry", telemetryFrame())
	p := nextPublish(t, got)
	require.Equal(t, "json/tesla-1/telemetry", p.Topic)
	var out map[string]any
	require.NoError(t, json.Unmarshal(p.Payload, &out), "%s", p.Payload)
	require.Equal(t, map[string]any{"clientid": "tesla-1", "t": map[string]any{
		"vin": "EDF226K7LZTZ51222", "speed": 39.5, "soc": 87.0, "shift_state": "D",
		"location": map[string]any{"latitude": 83.3494, "longitude": 141.9851}, "timestamp": 1681704127537.0,
	}}, out)

	code, body = apiCall(t, h, http.MethodPost, "/api/v1/publish", key,
		`{"topic":"json/tesla-1/command","qos":1,"payload":{"action":"HONK","nonce":"u7u4p0n8","ts":1574744434}}`)
	require.Equal(t, http.StatusOK, code, body)
	p = nextPublish(t, got)
	require.Equal(t, "pb/tesla-1/command", p.Topic)
	require.Equal(t, map[protowire.Number]any{1: uint64(3), 2: "u7u4p0n8", 3: uint64(1574744434)}, wireFields(t, p.Payload))
}

func subscribe1(t *testing.T, c *paho.Client, filter string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: 1}}})
	require.NoError(t, err)
}

func nextPublish(t *testing.T, got <-chan *paho.Publish) *paho.Publish {
	t.Helper()
	select {
	case p := <-got:
		return p
	case <-time.After(15 * time.Second):
		t.Fatal("no message within 15s")
		return nil
	}
}

// wireFields parses a protobuf frame's varint and length-delimited fields
// by hand (protowire): number → value.
func wireFields(t *testing.T, b []byte) map[protowire.Number]any {
	t.Helper()
	out := map[protowire.Number]any{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		require.GreaterOrEqual(t, n, 0)
		b = b[n:]
		switch typ {
		case protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			require.GreaterOrEqual(t, n, 0)
			out[num], b = v, b[n:]
		case protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			require.GreaterOrEqual(t, n, 0)
			out[num], b = string(v), b[n:]
		default:
			t.Fatalf("unexpected wire type %d", typ)
		}
	}
	return out
}
