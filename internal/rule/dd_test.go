package rule

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/msg"
)

// fixedNow is the clock of the datadriven tests: 2019-11-26T07:00:35.845Z.
var fixedNow = time.UnixMilli(1574751635845).UTC()

// ddState is the state carried between the commands of one file.
type ddState struct {
	engine *Engine
	sample Sample
	last   []Output
	corpus *corpus
}

// TestDataDriven runs the scripts in testdata/dd. Commands:
//
//	event [kind=…] [clientid=…] [username=…] [from_clientid=…] [topic=…]
//	      [qos=…] [retain] [file=NAME] [peerhost=…] [reason=…] [proto_ver=…]
//	      [keepalive=…] [prop=k:v]   — sets the sample; input = payload
//	context    — input: EMQX's rule-test context (JSON); sets the sample
//	parse      — input: a statement; output: its syntax tree or the error
//	eval       — input: a statement; output: one JSON line per output
//	expr       — input: an expression; output: "kind value"
//	render     — input: a template; rendered against each last output
func TestDataDriven(t *testing.T) {
	datadriven.Walk(t, "testdata/dd", func(t *testing.T, path string) {
		s := &ddState{engine: NewEngine(EngineOptions{Now: func() time.Time { return fixedNow }}), corpus: &corpus{}}
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			return s.run(t, d)
		})
	})
}

func (s *ddState) run(t *testing.T, d *datadriven.TestData) string {
	in := strings.TrimSpace(d.Input)
	switch d.Cmd {
	case "event":
		s.sample = sampleFromArgs(t, d, d.Input)
		return ""
	case "context":
		var ctx map[string]any
		require.NoError(t, json.Unmarshal([]byte(in), &ctx), "context: want a JSON object")
		sample, err := SampleFromContext(ctx)
		if err != nil {
			return "error: " + err.Error()
		}
		if sample.Node == "" {
			sample.Node = "iothub@127.0.0.1"
		}
		s.sample = sample
		return ""
	case "parse":
		st, err := parse(in)
		if err != nil {
			return "error: " + err.Error()
		}
		return dumpStatement(st)
	case "eval":
		outs, err := s.engine.TestSample(in, s.sample)
		s.last = outs
		return s.corpus.check(t, d, formatOutputs(outs, err))
	case "expr":
		return s.corpus.check(t, d, s.expr(t, in))
	case "render":
		tpl, err := ParseTemplate(strings.TrimSuffix(d.Input, "\n"))
		if err != nil {
			return "error: " + err.Error()
		}
		var b strings.Builder
		for i := range s.last {
			b.WriteString(tpl.Render(&s.last[i]) + "\n")
		}
		return b.String()
	}
	t.Fatalf("unknown command %q", d.Cmd)
	return ""
}

// expr evaluates one expression against the sample: "kind json".
func (s *ddState) expr(t *testing.T, in string) string {
	outs, err := s.engine.TestSample("SELECT "+in+" AS v FROM \"#\", \"$events/message_delivered\", "+
		"\"$events/message_acked\", \"$events/message_dropped\", \"$events/client_connected\", "+
		"\"$events/client_disconnected\", \"$events/session_subscribed\", \"$events/session_unsubscribed\"", s.sample)
	if err != nil {
		return "error: " + err.Error()
	}
	if len(outs) != 1 {
		return fmt.Sprintf("%d outputs", len(outs))
	}
	v, _ := outs[0].Get("v")
	b, err := json.Marshal(v.Any())
	require.NoError(t, err)
	return v.Kind().String() + " " + string(b)
}

func sampleFromArgs(t *testing.T, d *datadriven.TestData, payload string) Sample {
	s := Sample{Event: "message_publish", ClientID: "10083618796833171", Topic: "t",
		Payload: strings.TrimSuffix(payload, "\n"), Node: "iothub@127.0.0.1", PeerHost: "192.0.2.7:51234"}
	// The arguments that set a string field as they are.
	strs := map[string]*string{
		"kind": &s.Event, "clientid": &s.ClientID, "username": &s.Username, "from_clientid": &s.FromClientID,
		"from_username": &s.FromUsername, "topic": &s.Topic, "peerhost": &s.PeerHost, "reason": &s.Reason,
		"listener": &s.Listener, "node": &s.Node,
	}
	for _, a := range d.CmdArgs {
		v := ""
		if len(a.Vals) > 0 {
			v = a.Vals[0]
		}
		if f, ok := strs[a.Key]; ok {
			*f = v
			continue
		}
		switch a.Key {
		case "qos":
			s.QoS = byte(atoi(t, v))
		case "retain":
			s.Retain = true
		case "proto_ver":
			s.ProtoVer = byte(atoi(t, v))
		case "keepalive":
			s.KeepAlive = uint16(atoi(t, v))
		case "timestamp":
			s.Timestamp = int64(atoi(t, v))
		case "clean_start":
			s.CleanStart = true
		case "file":
			b, err := os.ReadFile(testutil.ScenarioPath(t, v))
			require.NoError(t, err)
			s.Payload = strings.TrimSpace(string(b))
		case "prop":
			k, pv, _ := strings.Cut(v, ":")
			if s.UserProperties == nil {
				s.UserProperties = map[string]string{}
			}
			s.UserProperties[k] = pv
		default:
			t.Fatalf("event: unknown argument %q", a.Key)
		}
	}
	return s
}

func atoi(t *testing.T, s string) int {
	n, err := strconv.Atoi(s)
	require.NoError(t, err)
	return n
}

func formatOutputs(outs []Output, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	if len(outs) == 0 {
		return "no output"
	}
	var b strings.Builder
	for _, o := range outs {
		j, err := json.Marshal(o)
		if err != nil {
			return "marshal error: " + err.Error()
		}
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

// dumpStatement prints a statement as S-expressions, to check precedence.
func dumpStatement(st *statement) string {
	var b strings.Builder
	if st.foreach {
		b.WriteString("foreach")
	} else {
		b.WriteString("select")
	}
	dumpColumns(&b, st.columns)
	if len(st.do) > 0 {
		b.WriteString("do")
		dumpColumns(&b, st.do)
	}
	if st.incase != nil {
		fmt.Fprintf(&b, "incase %s\n", dump(st.incase))
	}
	b.WriteString("from")
	for _, s := range st.from {
		if s.event != 0 {
			fmt.Fprintf(&b, " $events/%s", s.event)
		} else {
			fmt.Fprintf(&b, " %q", s.filter)
		}
	}
	b.WriteString("\n")
	if st.where != nil {
		fmt.Fprintf(&b, "where %s\n", dump(st.where))
	}
	return b.String()
}

func dumpColumns(b *strings.Builder, cols []column) {
	for i, c := range cols {
		if i > 0 {
			b.WriteString(",")
		}
		if c.star {
			b.WriteString(" *")
			continue
		}
		fmt.Fprintf(b, " %s", dump(c.x))
		if c.alias != nil {
			fmt.Fprintf(b, " as %s", dumpPath(c.alias))
		}
	}
	b.WriteString("\n")
}

func dumpPath(path []pathStep) string {
	var b strings.Builder
	for i, s := range path {
		switch s.kind {
		case stepKey:
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s.key)
		case stepHead:
			b.WriteString("[0]")
		case stepTail:
			b.WriteString("[-0]")
		default:
			fmt.Fprintf(&b, "[%d]", s.index)
		}
	}
	return b.String()
}

func dump(n node) string {
	switch n := n.(type) {
	case *litNode:
		if s, ok := n.v.AsString(); ok {
			return strconv.Quote(s)
		}
		if n.v.IsNull() {
			return "null"
		}
		return n.v.String()
	case *identNode:
		return n.name
	case *dotNode:
		return dump(n.x) + "." + n.name
	case *indexNode:
		return dump(n.x) + "[" + dump(n.i) + "]"
	case *callNode:
		return "(" + n.name + "()" + dumpList(n.args) + ")"
	case *unaryNode:
		return "(" + n.op + " " + dump(n.x) + ")"
	case *binaryNode:
		return "(" + n.op + " " + dump(n.l) + " " + dump(n.r) + ")"
	case *inNode:
		op := "in"
		if n.not {
			op = "not-in"
		}
		return "(" + op + " " + dump(n.x) + dumpList(n.list) + ")"
	case *isNullNode:
		if n.not {
			return "(is-not-null " + dump(n.x) + ")"
		}
		return "(is-null " + dump(n.x) + ")"
	case *caseNode:
		s := "(case"
		if n.subject != nil {
			s += " " + dump(n.subject)
		}
		for _, w := range n.whens {
			s += " (when " + dump(w.cond) + " " + dump(w.then) + ")"
		}
		if n.els != nil {
			s += " (else " + dump(n.els) + ")"
		}
		return s + ")"
	case *arrayNode:
		return "[" + strings.TrimPrefix(dumpList(n.elems), " ") + "]"
	case *rangeNode:
		r := fmt.Sprintf("[%d..%d]", n.from, n.to)
		if n.x != nil {
			r = dump(n.x) + r
		}
		return r
	}
	return "?"
}

func dumpList(ns []node) string {
	var s string
	for _, n := range ns {
		s += " " + dump(n)
	}
	return s
}

var _ = msg.EventMessageAcked
