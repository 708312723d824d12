package topic

import (
	"strings"
	"testing"
)

// fuzzNameFor derives a topic name that filter matches, replacing "+" by a
// level and "#" by two, so the fuzzer reaches matching paths as well as
// failing ones.
func fuzzNameFor(filter string) string {
	lv := strings.Split(filter, "/")
	for i, l := range lv {
		switch l {
		case "+":
			lv[i] = "p"
		case "#":
			lv[i] = "h1/h2"
		}
	}
	return strings.Join(lv, "/")
}

// FuzzTopicFilter checks, for any input: the validators never panic; a
// valid filter subscribes and unsubscribes leaving the Trie empty; and the
// Trie and the Retained index agree with Match for valid names. An input
// holding '\n' is split into filter and name there; otherwise the name is
// derived from the filter.
func FuzzTopicFilter(f *testing.F) {
	for _, tc := range matchCases {
		f.Add(tc.filter + "\n" + tc.name)
	}
	for _, s := range []string{"#", "+", "$share/g/#", "$share/g/", "$share//a", "a/#/b", "a+", "$SYS/#", "/", "a\x00b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_ = ValidateName(s)
		errFilter := ValidateFilter(s)
		filter, name, split := strings.Cut(s, "\n")
		if !split {
			if errFilter == nil {
				fuzzSubscribeUnsubscribe(t, s)
			}
			name = fuzzNameFor(s)
		}
		if ValidateFilter(filter) != nil || ValidateName(name) != nil {
			return
		}
		if split {
			fuzzSubscribeUnsubscribe(t, filter)
		}
		fuzzAgree(t, filter, name)
	})
}

func fuzzSubscribeUnsubscribe(t *testing.T, filter string) {
	tr := NewTrie[int]()
	isNew, err := tr.Subscribe(filter, "k", 1)
	if err != nil || !isNew {
		t.Fatalf("Subscribe(%q) = %v, %v for a valid filter", filter, isNew, err)
	}
	if !tr.Unsubscribe(filter, "k") {
		t.Fatalf("Unsubscribe(%q) found nothing", filter)
	}
	if tr.Len() != 0 || !tr.root.empty() {
		t.Fatalf("trie not empty after Unsubscribe(%q)", filter)
	}
}

func fuzzAgree(t *testing.T, filter, name string) {
	group, inner := splitFilter(filter)
	want := Match(inner, name)

	tr := NewTrie[int]()
	if _, err := tr.Subscribe(filter, "k", 1); err != nil {
		t.Fatalf("Subscribe(%q): %v", filter, err)
	}
	var m Matches[int]
	tr.Match(name, &m)
	got := len(m.Subs) + len(m.Shared)
	if got > 1 || (got == 1) != want {
		t.Fatalf("filter %q name %q: Match %v, Trie found %d subs %d groups", filter, name, want, len(m.Subs), len(m.Shared))
	}

	r := NewRetained[int]()
	r.Set(name, 1)
	found := false
	r.Match(filter, func(topic string, _ int) bool {
		found = topic == name
		return true
	})
	if found != (want && group == "") {
		t.Fatalf("filter %q name %q: Match %v, Retained found %v", filter, name, want, found)
	}
}
