package api

import (
	"bytes"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/iothub-dev/iothub/internal/schema"
)

// FuzzDecodeManageRequest feeds arbitrary bodies to the decoding of the
// rule, rule-test, ban, user and schema requests (a schema's .proto source
// is compiled, as POST /api/v1/schemas does): it must never panic, and
// every failure must be an *Error with a 4xx status.
func FuzzDecodeManageRequest(f *testing.F) {
	for _, s := range []string{
		`{"id":"low","sql":"SELECT clientid FROM \"devices/+/state\"","enabled":false,"actions":[{"type":"republish","topic":"a/${clientid}","qos":1}]}`,
		`{"sql":"SELECT * FROM \"t\"","sample":{"topic":"t","payload":{"battery":3},"qos":1,"user_properties":{"k":"v"}}}`,
		`{"kind":"address","value":"192.0.2.0/24","until":"2099-01-01T00:00:00Z"}`,
		`{"kind":"client_id","value":"x","duration":"1h"}`,
		`{"username":"u","password":"p","superuser":true}`,
		`{"name":"protobuf_person","type":"protobuf","source":"message Person { required string name = 1; required int32 id = 2; optional string email = 3; }"}`,
		`{"name":"p","source":"syntax = \"proto3\";\nmessage P {\n  string name = ;\n}"}`,
		`{"id":"a b"}`, `{"actions":[{}]}`, `{"sample":{"qos":"1"}}`, `{"until":"x"}`, `null`, ``,
	} {
		f.Add([]byte(s))
	}
	now := time.Unix(1_700_000_000, 0)
	f.Fuzz(func(t *testing.T, body []byte) {
		check := func(err error) { require4xx(t, err) }
		for _, pathID := range []string{"", "low"} {
			_, err := decodeRule(httptest.NewRequest("PUT", "/", bytes.NewReader(body)), pathID)
			check(err)
		}
		var tb ruleTestBody
		if err := decodeBody(bytes.NewReader(body), &tb); err == nil {
			_, err = decodePayload(tb.Sample.Payload, "")
			check(err)
		} else {
			check(err)
		}
		var bb banBody
		if err := decodeBody(bytes.NewReader(body), &bb); err == nil {
			_, err = bb.ban(now)
			check(err)
		} else {
			check(err)
		}
		var ub userBody
		check(decodeBody(bytes.NewReader(body), &ub))
		for _, name := range []string{"", "p"} {
			def, err := decodeSchema(httptest.NewRequest("PUT", "/", bytes.NewReader(body)), name)
			if err == nil {
				_, err = schema.New(schema.Options{}).Create(def)
				err = schemaError(err, def.Name)
			}
			check(err)
		}
	})
}
