package run

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"
)

// Script prints a demo's story step by step and counts what the story
// expected to happen: each expectation prints "ok" or "MISSING", and End
// turns the count into the exit code.
type Script struct {
	Out    io.Writer
	Events *Events
	// Wait bounds each expectation.
	Wait time.Duration

	seen    int
	missing []string
}

// Step prints a step's title.
func (s *Script) Step(title string) { fmt.Fprintf(s.Out, "\n== %s\n", title) }

// Expect waits for an event, past or future, that match accepts.
func (s *Script) Expect(ctx context.Context, what string, match func(Event) bool) bool {
	ctx, cancel := context.WithTimeout(ctx, s.Wait)
	defer cancel()
	_, err := s.Events.Wait(ctx, match)
	return s.Check(what, err == nil)
}

// Until polls cond every 100 ms until it holds, at most Wait.
func (s *Script) Until(ctx context.Context, what string, cond func() bool) bool {
	deadline := time.Now().Add(s.Wait)
	for !cond() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return s.Check(what, false)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return s.Check(what, true)
}

// Check counts and prints one expectation that is already decided.
func (s *Script) Check(what string, ok bool) bool {
	if !ok {
		s.missing = append(s.missing, what)
		fmt.Fprintf(s.Out, "  MISSING  %s\n", what)
		return false
	}
	s.seen++
	fmt.Fprintf(s.Out, "  ok       %s\n", what)
	return true
}

// End prints the count and returns the exit code: 1 if anything expected
// is missing.
func (s *Script) End() int {
	if len(s.missing) > 0 {
		fmt.Fprintf(s.Out, "\nMISSING %d of %d expected events:\n  %s\n", len(s.missing), s.seen+len(s.missing), strings.Join(s.missing, "\n  "))
		return 1
	}
	fmt.Fprintf(s.Out, "\nall %d expected events seen\n", s.seen)
	return 0
}
