package topic

import (
	"fmt"
	"strconv"
	"testing"
)

// benchTrie builds a trie of n subscriptions shaped like the door-lock
// system: 90% exact "devices/{id}/command", 5% "devices/{id}/+", 5%
// "devices/{id}/#" (the wildcard ones on ids that also hold the exact
// filter), plus a few share groups as a Kafka bridge and an audit service
// would hold them. It returns the topics to match, rotated by the benchmark.
func benchTrie(n int) (*Trie[uint8], []string) {
	tr := NewTrie[uint8]()
	ids := n * 90 / 100
	sub := func(filter, key string) {
		if _, err := tr.Subscribe(filter, key, 1); err != nil {
			panic(err)
		}
	}
	for i := range ids {
		id := strconv.Itoa(10083618796833171 + i)
		sub("devices/"+id+"/command", id)
	}
	for i := range n * 5 / 100 {
		id := strconv.Itoa(10083618796833171 + i*17%ids)
		sub("devices/"+id+"/+", id)
		id = strconv.Itoa(10083618796833171 + i*31%ids)
		sub("devices/"+id+"/#", id)
	}
	for i := range 4 {
		sub("$share/kafka/devices/+/state", fmt.Sprint("bridge", i))
		sub("$share/audit/devices/#", fmt.Sprint("audit", i))
	}
	topics := make([]string, 1024)
	for i := range topics {
		topics[i] = "devices/" + strconv.Itoa(10083618796833171+i*7919%ids) + "/command"
	}
	return tr, topics
}

func BenchmarkTrieMatch(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		b.Run(fmt.Sprintf("subs=%d", n), func(b *testing.B) {
			tr, topics := benchTrie(n)
			var m Matches[uint8]
			for _, tp := range topics { // grow m once
				tr.Match(tp, &m)
			}
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				tr.Match(topics[i&1023], &m)
				i++
			}
		})
	}
}

// BenchmarkTrieMatchParallel shows the cost of the shared read lock when
// every core routes at once.
func BenchmarkTrieMatchParallel(b *testing.B) {
	tr, topics := benchTrie(100000)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var m Matches[uint8]
		i := 0
		for pb.Next() {
			tr.Match(topics[i&1023], &m)
			i++
		}
	})
}

func BenchmarkTrieSubscribe(b *testing.B) {
	tr, _ := benchTrie(100000)
	filters := make([]string, 1<<16)
	for i := range filters {
		filters[i] = "devices/new" + strconv.Itoa(i) + "/command"
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		// Alternate subscribe and unsubscribe so the trie stays the same size.
		f := filters[(i>>1)&(1<<16-1)]
		if i&1 == 0 {
			if _, err := tr.Subscribe(f, "client", 1); err != nil {
				b.Fatal(err)
			}
		} else {
			tr.Unsubscribe(f, "client")
		}
		i++
	}
}

func BenchmarkRetainedMatch(b *testing.B) {
	r := NewRetained[uint8]()
	for i := range 100000 {
		id := strconv.Itoa(10083618796833171 + i)
		r.Set("devices/"+id+"/state", 1)
	}
	for i := range 1000 {
		r.Set("mqttx/simulate/tesla/car-"+strconv.Itoa(i), 1)
	}
	for _, bc := range []struct{ name, filter string }{
		{"filter=devices/+/state", "devices/+/state"},
		{"filter=devices/{id}/state", "devices/10083618796833999/state"},
		{"filter=mqttx/simulate/#", "mqttx/simulate/#"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var visited int
			for b.Loop() {
				visited = 0
				r.Match(bc.filter, func(string, uint8) bool { visited++; return true })
			}
			b.ReportMetric(float64(visited), "topics/op")
		})
	}
}
