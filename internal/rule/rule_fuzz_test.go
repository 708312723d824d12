package rule

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/iothub-dev/iothub/msg"
)

var fuzzSeeds = []string{
	`SELECT clientid, payload.battery AS battery FROM "devices/+/state" WHERE payload.battery < 20`,
	`SELECT payload FROM "mqttx/simulate/#"`,
	`SELECT * FROM "$events/client_connected", "$events/client_disconnected"`,
	`FOREACH payload.sensors AS s DO s.name AS name INCASE s.temp > 20 FROM "f/+/s" WHERE qos = 1`,
	`SELECT CASE qos WHEN 0 THEN 'a' ELSE 'b' END, [1, 'x'], -payload.a[-1].b FROM "t" WHERE topic =~ 'a/+' AND x IN (1, 2) OR y IS NOT NULL`,
	`SELECT lower(clientid) + '/' + str(qos) AS k, 7 div 2 mod 3 FROM 't/#' -- c`,
	`SELECT regex_replace(payload, '(', 'x') FROM "t"`,
	`SELECT 'unterminated FROM "t"`,
	`SELECT /* x */ a FROM "t" WHERE ((((1))))`,
	"SELECT `from` FROM \"t\"",
	`SELECT clientid, avg(payload.speed) AS s, count(*), window_end() FROM "v/+" WHERE payload.n > 0 GROUP BY clientid, TUMBLINGWINDOW(mi, 1) HAVING s > 1`,
	`SELECT max(payload.a), first(payload.a), sum(x) FROM "t" GROUP BY HOPPINGWINDOW(ss, 10, 5)`,
	`SELECT last(payload) FROM "t" GROUP BY topic, SLIDINGWINDOW(ms, 500)`,
	`SELECT min(qos) FROM "t" GROUP BY COUNTWINDOW(3, 1)`,
	`SELECT payload FROM "t" WHERE deadband(payload.x, 0.5) AND changed(payload.y, clientid)`,
	`SELECT reason_code, conn_props FROM "$events/client_connack", "$events/client_check_authz_complete"`,
	`SELECT jq('.sensors[] | select(.temp > 20) | .name', payload, 100) AS hot, payload.a[1..2] AS c[-0] FROM "t"`,
	`FOREACH json_decode(payload) AS p, p.sensors AS s DO s.x AS meta.x FROM "t" WHERE s.page = '2'`,
	`SELECT subbits(payload, 1, 16, 'integer', 'signed', 'little'), sprintf('~s ~p', a, b), mymod.f(x) FROM "t"`,
}

// FuzzRuleParse checks that no statement makes the parser or compiler
// panic, that every refusal is an error wrapping ErrSyntax or ErrInvalid,
// and that an accepted statement evaluates against a sample event without
// panicking.
func FuzzRuleParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	e := NewEngine(EngineOptions{Now: func() time.Time { return fixedNow }})
	f.Fuzz(func(t *testing.T, sql string) {
		p, err := compileSQL(sql)
		if err != nil {
			if !errors.Is(err, ErrSyntax) && !errors.Is(err, ErrInvalid) {
				t.Fatalf("refusal is not a syntax or invalid error: %v", err)
			}
			var se *SQLError
			if !errors.As(err, &se) || se.Pos.Line < 1 || se.Pos.Col < 1 {
				t.Fatalf("refusal without a position: %v", err)
			}
			return
		}
		sample := Sample{ClientID: "c", Topic: "t/a", Payload: `{"a":[1,{"b":2}],"s":"x","n":1.5}`, QoS: 1}
		for _, ev := range []string{"", "message_acked", "client_connected", "session_subscribed", "client_connack", "client_check_authz_complete"} {
			sample.Event = ev
			_, _ = e.TestSample(sql, sample)
		}
		_ = p
	})
}

// FuzzTemplateParse checks that no template makes ParseTemplate or Render
// panic, and that every refusal is a syntax error or an invalid statement
// (EMQX's module.func() in a placeholder).
func FuzzTemplateParse(f *testing.F) {
	for _, s := range []string{"alarms/${clientid}", "${payload.a[1].b}-$${x}", "${", "${ }", "a/${payload.`x y`}"} {
		f.Add(s)
	}
	e := NewEngine(EngineOptions{Now: func() time.Time { return fixedNow }})
	outs, err := e.TestSample(`SELECT clientid, payload FROM "t/#"`, Sample{ClientID: "c", Topic: "t/a", Payload: `{"a":[1,{"b":2}]}`})
	if err != nil || len(outs) != 1 {
		f.Fatalf("sample output: %v", err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tpl, err := ParseTemplate(s)
		if err != nil {
			if !errors.Is(err, ErrSyntax) && !errors.Is(err, ErrInvalid) {
				t.Fatalf("refusal is neither a syntax error nor an invalid statement: %v", err)
			}
			return
		}
		_ = tpl.Render(&outs[0])
	})
}

// FuzzFunctions calls the functions that parse their arguments (dates,
// offsets, escapes, bit fields, hex, base64, formats, JSON, compressed
// data) with arbitrary arguments: none may panic, and every failure is an
// ordinary error.
func FuzzFunctions(f *testing.F) {
	f.Add("%Y-%m-%d %H:%M:%S%:z", "2024-02-23 15:00:00+08:00", int64(1), int64(16))
	f.Add(`\x41\n`, "integer", int64(9), int64(8))
	f.Add("9F4E58", "float", int64(1), int64(16))
	f.Add("~s ~p ~n", "+08:20:30", int64(-3), int64(64))
	names := []string{"date_to_unix_ts", "format_date", "rfc3339_to_unix_ts", "unix_ts_to_rfc3339",
		"timezone_to_offset_seconds", "unescape", "subbits", "hexstr2bin", "bin2hexstr", "base64_decode",
		"sprintf", "split", "tokens", "pad", "find", "replace", "regex_replace", "regex_extract",
		"json_decode", "map_get", "map_put", "mget", "mput", "sublist", "float2str", "float", "int",
		"gunzip", "unzip", "zip_uncompress", "str", "nth", "bitsl", "bitsr"}
	e := getEnv(nil, &event{e: &msg.Event{Kind: msg.EventMessagePublished}}, fixedNow)
	f.Fuzz(func(t *testing.T, a, b string, x, y int64) {
		pool := []Value{String(a), String(b), Int(x), Int(y)}
		for _, name := range names {
			spec := funcs[name]
			for n := spec.min; n <= min(len(pool), maxArity(spec)); n++ {
				for _, args := range argPermutations(pool, n) {
					_, _ = spec.fn(e, args)
				}
			}
		}
	})
}

func maxArity(s *funcSpec) int {
	if s.max < 0 {
		return 4
	}
	return s.max
}

// argPermutations returns the n-argument lists drawn from pool in order
// with the first argument rotated through the pool.
func argPermutations(pool []Value, n int) [][]Value {
	var out [][]Value
	for r := range pool {
		args := make([]Value, n)
		for i := range args {
			args[i] = pool[(r+i)%len(pool)]
		}
		out = append(out, args)
	}
	return out
}

// FuzzSampleFromContext feeds arbitrary JSON to the reading of EMQX's
// rule-test context (POST /api/v1/rules/test with {"context": …}): a
// refusal wraps ErrBadRule and names the column, and an accepted context
// evaluates without panicking.
func FuzzSampleFromContext(f *testing.F) {
	for _, s := range []string{
		`{"event_type":"message_publish","clientid":"c_emqx","topic":"t/a","payload":"{\"msg\":\"hello\"}","qos":1,"username":"u"}`,
		`{"event_type":"client_connack","reason_code":"success","clean_start":true,"keepalive":60,"conn_props":{"User-Property":{"a":"b"}}}`,
		`{"event_type":"message_dropped","pub_props":{"User-Property":{"mykey":"v"}},"payload":{"x":1}}`,
		`{"event_type":"client_check_authn_complete","is_superuser":true,"is_anonymous":false,"expiry_interval":4294967295}`,
		`{"event_type":"message_acked","puback_props":{"Reason-String":"ok"},"timestamp":1574751635845}`,
		`{"qos":"1"}`, `{"pub_props":[]}`, `{"keepalive":-1}`, `{"user_properties":{"k":1.5}}`, `{}`,
	} {
		f.Add([]byte(s))
	}
	e := NewEngine(EngineOptions{Now: func() time.Time { return fixedNow }})
	f.Fuzz(func(t *testing.T, body []byte) {
		var ctx map[string]any
		if json.Unmarshal(body, &ctx) != nil {
			return
		}
		s, err := SampleFromContext(ctx)
		if err != nil {
			if !errors.Is(err, ErrBadRule) || !strings.Contains(err.Error(), "context.") {
				t.Fatalf("refusal does not wrap ErrBadRule or name the column: %v", err)
			}
			return
		}
		for _, sql := range []string{`SELECT * FROM "#"`, `SELECT clientid, payload.x, pub_props, conn_props FROM "#", "$events/client_connack", "$events/message_dropped"`} {
			_, _ = e.TestSample(sql, s)
		}
	})
}
