package api

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// FuzzDecodeRequest feeds arbitrary bodies to the request decoding of
// publish, batch, command and subscribe: it must never panic, and every
// failure must be an *Error with a 4xx status.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"topic":"devices/1/state","payload":{"a":1},"qos":1,"retain":true}`,
		`{"topic":"a","payload":"AAE=","payload_encoding":"base64","properties":{"user_properties":{"k":"v"},"correlation_data":"Yw==","correlation_encoding":"base64","message_expiry":5,"payload_format_indicator":1}}`,
		`[{"topic":"a"},{"topic":"b","qos":2}]`,
		`{"payload":"x","wait":"acked","timeout":"5s","qos":1}`,
		`{"filter":"$share/g/a/#","qos":1,"retain_handling":2}`,
		`{"topic":`, `"`, `{"qos":"1"}`, `{"qos":300}`, `null`, ``, `{} {}`, "\xff\xfe",
	} {
		f.Add([]byte(s))
	}
	now := time.Unix(1_700_000_000, 0)
	f.Fuzz(func(t *testing.T, body []byte) {
		check := func(err error) { require4xx(t, err) }
		var pub publishRequest
		if err := decodeBody(bytes.NewReader(body), &pub); err == nil {
			_, err = pub.toMessage(pub.Topic, 0, now)
			check(err)
		} else {
			check(err)
		}
		var batch []publishRequest
		check(decodeBody(bytes.NewReader(body), &batch))
		var cmd commandRequest
		if err := decodeBody(bytes.NewReader(body), &cmd); err == nil {
			_, err = cmd.toMessage("t", 1, now)
			check(err)
			_, err = parseTimeout(cmd.Timeout, time.Second, time.Minute)
			check(err)
		} else {
			check(err)
		}
		var sub subscriptionJSON
		check(decodeBody(bytes.NewReader(body), &sub))
	})
}

// require4xx fails the fuzz case unless err is nil or an *Error with a 4xx
// status and a code: how a decoder must refuse a body.
func require4xx(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var e *Error
	if !errors.As(err, &e) || e.Status < 400 || e.Status > 499 || e.Code == "" {
		t.Fatalf("not a 4xx *Error: %#v", err)
	}
}
