package rule

import (
	"errors"
	"testing"
	"time"
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
		for _, ev := range []string{"", "message_acked", "client_connected", "session_subscribed"} {
			sample.Event = ev
			_, _ = e.TestSample(sql, sample)
		}
		_ = p
	})
}

// FuzzTemplateParse checks that no template makes ParseTemplate or Render
// panic.
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
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("refusal is not a syntax error: %v", err)
			}
			return
		}
		_ = tpl.Render(&outs[0])
	})
}
