package rule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/itchyny/gojq"
)

// jq(program, json[, timeout_ms]) runs a jq program (github.com/itchyny/gojq)
// on a value or on JSON text and returns the array of its results, as
// EMQX's jq does. A program runs at most timeout_ms (default
// EngineOptions.JQTimeout, rules.jq_timeout in the configuration);
// compiled programs are cached.

// DefaultJQTimeout bounds a jq program without an explicit timeout
// (EMQX's rule_engine.jq_function_default_timeout is 10 s).
const DefaultJQTimeout = 10 * time.Second

// maxJQResults bounds the results one jq call may produce.
const maxJQResults = 10000

const maxCachedJQ = 256

var (
	jqCache sync.Map // program → *gojq.Code
	jqCount atomic.Int32
)

func init() {
	s := register("jq", 2, 3, jqFn)
	s.doc = "jq(program, json[, timeout_ms]) — the results of a jq program, as an array: jq('.a + 1', '{\"a\":1}') = [2]"
	s.check = func(lits []*Value) (int, error) {
		if p, ok := constString(lits, 0); ok {
			if _, err := compileJQ(p); err != nil {
				return 0, err
			}
		}
		return 0, nil
	}
}

func compileJQ(program string) (*gojq.Code, error) {
	if c, ok := jqCache.Load(program); ok {
		return c.(*gojq.Code), nil
	}
	q, err := gojq.Parse(program)
	if err != nil {
		return nil, fmt.Errorf("jq: %w", err)
	}
	code, err := gojq.Compile(q)
	if err != nil {
		return nil, fmt.Errorf("jq: %w", err)
	}
	if jqCount.Load() < maxCachedJQ {
		if _, loaded := jqCache.LoadOrStore(program, code); !loaded {
			jqCount.Add(1)
		}
	}
	return code, nil
}

func jqFn(e *env, a []Value) (Value, error) {
	program, err := text(a, 0)
	if err != nil {
		return Null, err
	}
	code, err := compileJQ(program)
	if err != nil {
		return Null, err
	}
	timeout := DefaultJQTimeout
	if e.opts != nil {
		timeout = e.opts.JQTimeout
	}
	if len(a) == 3 {
		ms, err := intArg(a, 2)
		if err != nil {
			return Null, err
		}
		timeout = time.Duration(ms) * time.Millisecond
	}
	input, err := jqInput(a[1])
	if err != nil {
		return Null, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out []any
	iter := code.RunWithContext(ctx, input)
	for {
		v, ok := iter.Next()
		if !ok {
			break
		}
		if err, isErr := v.(error); isErr {
			if errors.Is(err, context.DeadlineExceeded) {
				return Null, fmt.Errorf("jq: timeout after %s", timeout)
			}
			return Null, fmt.Errorf("jq: %w", err)
		}
		if len(out) == maxJQResults {
			return Null, fmt.Errorf("jq: more than %d results", maxJQResults)
		}
		out = append(out, fromJQ(v))
	}
	return Array(out), nil
}

// jqInput converts the value to gojq's input: JSON text is decoded, other
// values pass through JSON so that numbers are gojq's.
func jqInput(v Value) (any, error) {
	src := []byte(v.s)
	if v.k != KindString {
		b, err := json.Marshal(v.Any())
		if err != nil {
			return nil, err
		}
		src = b
	}
	var x any
	if err := json.Unmarshal(src, &x); err != nil {
		return nil, errors.New("jq: the input is not JSON")
	}
	return x, nil
}

// fromJQ converts a gojq result (int, float64, *big.Int, …) to the tree
// shape of Value (int64 or float64 numbers).
func fromJQ(x any) any {
	switch t := x.(type) {
	case int:
		return int64(t)
	case float64:
		return fromFloat(t).Any()
	case []any:
		for i := range t {
			t[i] = fromJQ(t[i])
		}
		return t
	case map[string]any:
		for k, v := range t {
			t[k] = fromJQ(v)
		}
		return t
	}
	if b, err := json.Marshal(x); err == nil { // *big.Int and the like
		var y any
		if json.Unmarshal(b, &y) == nil {
			return y
		}
	}
	return nil
}
