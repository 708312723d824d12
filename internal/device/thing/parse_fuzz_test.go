package thing

import (
	"strings"
	"testing"
)

// FuzzParse: any topic parses or is refused (never a panic), and what
// parses is the topic it came from.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"$aws/things/lock-1/shadow/update", "$aws/things/lock-1/shadow/name/n/get/accepted",
		"$aws/things/lock-1/jobs/$next/get", "$aws/things//shadow", "$aws/things/x", "$aws/things/x/",
		"devices/x/state", "", "$aws/things/\x00/\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, topic string) {
		p, ok := Parse(topic)
		if !ok {
			return
		}
		back := Prefix + p.Thing + "/" + p.Service
		if p.Rest != "" || strings.HasSuffix(topic, p.Service+"/") {
			back += "/" + p.Rest
		}
		if back != topic || p.Thing == "" || p.Service == "" || strings.Contains(p.Thing, "/") || strings.Contains(p.Service, "/") {
			t.Fatalf("%q parsed as %+v", topic, p)
		}
	})
}
