package broker

import (
	"fmt"
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
	// What a page cost before: every candidate sorted by id (Subscriptions
	// still pages this way).
	b.Run("reference=sort-all", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if len(s.sessionsAfter("", "")) == 0 {
				b.Fatal("no sessions")
			}
		}
	})
}
