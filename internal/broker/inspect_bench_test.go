package broker

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// BenchmarkClients measures one page of GET /api/v1/clients over 200,000
// offline sessions (the registry is a map, so each page is a pass over
// it): the first page, a page deep in the list, and a search that matches
// few.
func BenchmarkClients(b *testing.B) {
	s, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Shutdown(b.Context()) })
	s.mu.Lock()
	for i := range 200_000 {
		id := fmt.Sprintf("%017d", uint64(i)*7919%200_000*1_000_003)
		s.sessions[id] = &Session{s: s, id: id, subs: map[string]*subscription{}}
	}
	s.mu.Unlock()
	for _, tc := range []struct {
		name string
		q    ClientQuery
	}{
		{"page=first/limit=50", ClientQuery{Limit: 50}},
		{"page=middle/limit=50", ClientQuery{Limit: 50, After: fmt.Sprintf("%017d", 100_000*1_000_003)}},
		{"search/limit=50", ClientQuery{Limit: 50, Search: "4242"}},
		{"offline/limit=1000", ClientQuery{Limit: 1000, Connected: new(bool)}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if page, _ := s.Clients(tc.q); len(page) == 0 {
					b.Fatal("empty page")
				}
			}
		})
	}
	// What a page cost before: every candidate sorted by id.
	b.Run("reference=sort-all", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if len(s.sessionsAfter("", "")) == 0 {
				b.Fatal("no sessions")
			}
		}
	})
}

// sessionsAfter is candidates sorted by client id: how Clients and
// Subscriptions paged before (the reference above).
func (s *Server) sessionsAfter(after, prefix string) []*Session {
	out := s.candidates(after, prefix)
	slices.SortFunc(out, func(a, b *Session) int { return strings.Compare(a.id, b.id) })
	return out
}

// BenchmarkSubscriptions measures one page of GET /api/v1/subscriptions
// over 200,000 sessions of one subscription each: the first page, one deep
// in the list, and the subscribers of a topic (found in the trie).
func BenchmarkSubscriptions(b *testing.B) {
	s, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Shutdown(b.Context()) })
	s.mu.Lock()
	for i := range 200_000 {
		id := fmt.Sprintf("%017d", uint64(i)*7919%200_000*1_000_003)
		ss := &Session{s: s, id: id, subs: map[string]*subscription{}}
		f := "devices/" + id + "/command"
		ss.subs[f] = &subscription{sess: ss, filter: f}
		if _, err := s.subs.Subscribe(f, id, ss.subs[f]); err != nil {
			b.Fatal(err)
		}
		s.sessions[id] = ss
	}
	s.mu.Unlock()
	for _, tc := range []struct {
		name string
		q    SubscriptionQuery
	}{
		{"page=first/limit=50", SubscriptionQuery{Limit: 50}},
		{"page=middle/limit=50", SubscriptionQuery{Limit: 50, AfterClientID: fmt.Sprintf("%017d", 100_000*1_000_003)}},
		{"topic/limit=50", SubscriptionQuery{Limit: 50, Topic: fmt.Sprintf("devices/%017d/command", 4242*1_000_003)}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if page, _ := s.Subscriptions(tc.q); len(page) == 0 {
					b.Fatal("empty page")
				}
			}
		})
	}
}

// TestCandidates_whileSessionsChange checks the pass that lets go of the
// server lock between stretches: with sessions created and removed
// meanwhile, every session there throughout is returned exactly once (run
// with -race).
func TestCandidates_whileSessionsChange(t *testing.T) {
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown(t.Context()) })
	const stay = 3*candidatesPerLock + 17
	s.mu.Lock()
	for i := range stay {
		id := fmt.Sprintf("stay-%05d", i)
		s.sessions[id] = &Session{s: s, id: id, subs: map[string]*subscription{}}
	}
	s.mu.Unlock()
	done := make(chan struct{})
	churned := make(chan int)
	go func() { // sessions come and go while the passes run
		n := 0
		for {
			select {
			case <-done:
				churned <- n
				return
			default:
			}
			id := fmt.Sprintf("churn-%d", n%500)
			s.mu.Lock()
			if _, ok := s.sessions[id]; ok {
				delete(s.sessions, id)
			} else {
				s.sessions[id] = &Session{s: s, id: id, subs: map[string]*subscription{}}
			}
			s.mu.Unlock()
			n++
		}
	}()
	for range 20 {
		counts := map[string]int{}
		for _, ss := range s.candidates("", "stay-") {
			counts[ss.id]++
		}
		if len(counts) != stay {
			t.Fatalf("%d of %d lasting sessions returned", len(counts), stay)
		}
		for id, n := range counts {
			if n != 1 {
				t.Fatalf("%s returned %d times", id, n)
			}
		}
	}
	close(done)
	if n := <-churned; n == 0 {
		t.Fatal("no session changed during the passes")
	}
}
