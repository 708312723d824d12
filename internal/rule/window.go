package rule

import (
	"fmt"
	"strings"
	"time"
)

// Windows (GROUP BY with TUMBLINGWINDOW, HOPPINGWINDOW, SLIDINGWINDOW or
// COUNTWINDOW, in eKuiper's syntax) turn a stream of events into one
// output per group and window, with aggregates (avg, sum, count, min,
// max, first, last) over the window's events:
//
//	SELECT clientid, avg(payload.speed) AS speed FROM "mqttx/simulate/tesla/+"
//	GROUP BY clientid, TUMBLINGWINDOW(mi, 1)
//
// WHERE filters events before they enter a window; HAVING filters the
// outputs. Time windows use the engine's clock (processing time) and are
// aligned to the Unix epoch; they close when Engine.Tick passes their end.
// Sliding and count windows emit on the event that completes them.
// window_state.go holds the per-rule state and its bound.

// windowKind is the kind of a window.
type windowKind uint8

const (
	tumbling windowKind = iota + 1
	hopping
	sliding
	counting
)

var windowNames = map[string]windowKind{
	"tumblingwindow": tumbling, "hoppingwindow": hopping, "slidingwindow": sliding, "countwindow": counting,
}

// windowSpec is a compiled window.
type windowSpec struct {
	kind      windowKind
	size, hop time.Duration // time windows (hop: hopping only)
	count     int           // count windows: events per window
	every     int           // count windows: emit every so many events
}

// windowUnits are eKuiper's time units (mm is taken for minutes too).
var windowUnits = map[string]time.Duration{
	"dd": 24 * time.Hour, "hh": time.Hour, "mi": time.Minute, "mm": time.Minute,
	"ss": time.Second, "ms": time.Millisecond,
}

// maxWindowSize bounds a time window; maxWindowCount a count window.
const (
	maxWindowSize  = 7 * 24 * time.Hour
	maxWindowCount = 1 << 20
)

// parseWindow reads a window call of GROUP BY; ok is false when n is not
// one.
func parseWindow(n node) (w windowSpec, ok bool, err error) {
	call, isCall := n.(*callNode)
	if !isCall {
		return w, false, nil
	}
	w.kind, ok = windowNames[call.name]
	if !ok {
		return w, false, nil
	}
	if w.kind == counting {
		return w, true, parseCountWindow(call, &w)
	}
	want := 2
	if w.kind == hopping {
		want = 3
	}
	if len(call.args) != want {
		return w, true, invalidErr(call.p, fmt.Sprintf("%s takes a unit and %d lengths, e.g. %s", strings.ToUpper(call.name), want-1,
			map[windowKind]string{tumbling: "TUMBLINGWINDOW(mi, 1)", hopping: "HOPPINGWINDOW(mi, 5, 1)", sliding: "SLIDINGWINDOW(ss, 30)"}[w.kind]))
	}
	unit, isIdent := call.args[0].(*identNode)
	d, known := windowUnits[strings.ToLower(nameOf(unit, isIdent))]
	if !known {
		return w, true, invalidErr(call.args[0].pos(), "window unit must be dd, hh, mi, ss or ms")
	}
	lengths := make([]time.Duration, 0, 2)
	for _, a := range call.args[1:] {
		n, err := positiveInt(a, int64(maxWindowSize/d))
		if err != nil {
			return w, true, err
		}
		lengths = append(lengths, time.Duration(n)*d)
	}
	w.size = lengths[0]
	if w.kind == hopping {
		w.hop = lengths[1]
		if w.hop > w.size {
			return w, true, invalidErr(call.args[2].pos(), "the hop of a hopping window must not be longer than its size")
		}
	}
	return w, true, nil
}

func nameOf(n *identNode, ok bool) string {
	if !ok {
		return ""
	}
	return n.name
}

func parseCountWindow(call *callNode, w *windowSpec) error {
	if len(call.args) < 1 || len(call.args) > 2 {
		return invalidErr(call.p, "COUNTWINDOW takes a count and an optional hop, e.g. COUNTWINDOW(10) or COUNTWINDOW(10, 5)")
	}
	n, err := positiveInt(call.args[0], maxWindowCount)
	if err != nil {
		return err
	}
	w.count, w.every = int(n), int(n)
	if len(call.args) == 2 {
		h, err := positiveInt(call.args[1], n)
		if err != nil {
			return err
		}
		w.every = int(h)
	}
	return nil
}

// positiveInt reads a constant int in [1, hi].
func positiveInt(n node, hi int64) (int64, error) {
	lit, ok := n.(*litNode)
	if !ok || lit.v.k != KindInt || lit.v.n < 1 || lit.v.n > hi {
		return 0, invalidErr(n.pos(), fmt.Sprintf("want an integer from 1 to %d", hi))
	}
	return lit.v.n, nil
}

// windowProg is the windowed part of a compiled statement.
type windowProg struct {
	spec   windowSpec
	keys   []evalFn  // GROUP BY expressions other than the window
	aggs   []aggSpec // the aggregates of SELECT and HAVING, in order
	having evalFn    // nil: none
}

// compileWindow compiles GROUP BY and HAVING, and the columns with
// aggregates; WHERE was compiled as usual (it filters events).
func (p *program) compileWindow(c *compiler, st *statement) error {
	if st.foreach {
		return invalidErr(st.groupBy[0].pos(), "FOREACH cannot have GROUP BY")
	}
	w := &windowProg{}
	found := false
	for _, g := range st.groupBy {
		spec, isWindow, err := parseWindow(g)
		switch {
		case err != nil:
			return err
		case isWindow && found:
			return invalidErr(g.pos(), "GROUP BY takes one window")
		case isWindow:
			w.spec, found = spec, true
		default:
			k, err := c.compile(g)
			if err != nil {
				return err
			}
			w.keys = append(w.keys, k)
		}
	}
	if !found {
		pos := Pos{1, 1}
		if len(st.groupBy) > 0 {
			pos = st.groupBy[0].pos()
		}
		return invalidErr(pos, "GROUP BY needs a window: TUMBLINGWINDOW(mi, 1), HOPPINGWINDOW(mi, 5, 1), SLIDINGWINDOW(ss, 30) or COUNTWINDOW(10)")
	}
	c.aggs = &w.aggs
	var err error
	if p.cols, err = c.columns(st.columns); err != nil {
		return err
	}
	if st.having != nil {
		c.sel = aliasRoots(st.columns)
		if w.having, err = c.compile(st.having); err != nil {
			return err
		}
	}
	c.aggs = nil
	p.window = w
	return nil
}
