package topic_test

import (
	"fmt"

	"github.com/iothub-dev/iothub/mqtt/topic"
)

func ExampleMatch() {
	fmt.Println(topic.Match("devices/+/state", "devices/lock1/state"))
	fmt.Println(topic.Match("sport/#", "sport"))
	fmt.Println(topic.Match("#", "$SYS/uptime"))
	// Output:
	// true
	// true
	// false
}

func ExampleTrie_Match() {
	tr := topic.NewTrie[byte]() // value: the subscription's QoS
	_, _ = tr.Subscribe("devices/lock1/command", "lock1", 1)
	_, _ = tr.Subscribe("devices/+/command", "audit", 0)
	_, _ = tr.Subscribe("$share/kafka/devices/+/command", "bridge-a", 1)
	_, _ = tr.Subscribe("$share/kafka/devices/+/command", "bridge-b", 1)

	var m topic.Matches[byte] // reuse per goroutine: Match then does not allocate
	tr.Match("devices/lock1/command", &m)
	fmt.Println(len(m.Subs), "direct subscriptions")
	for _, g := range m.Shared {
		e, _ := g.Next()
		fmt.Println(g.Name(), g.Filter(), "->", e.Key)
	}
	// Output:
	// 2 direct subscriptions
	// kafka devices/+/command -> bridge-a
}

func ExampleRetained_Match() {
	r := topic.NewRetained[string]()
	r.Set("devices/lock1/state", `{"lock_state":1}`)
	r.Set("devices/lock2/state", `{"lock_state":0}`)
	r.Set("devices/lock1/command", `{"action":"unlock"}`)

	n := 0
	r.Match("devices/+/state", func(string, string) bool { n++; return true })
	fmt.Println(n, "retained states")
	// Output:
	// 2 retained states
}
