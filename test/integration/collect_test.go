package integration

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"
)

// received is one message a test subscriber got.
type received struct {
	topic, payload string
	dup            bool
	props          map[string]string
}

// collector is an MQTT 5 subscriber with a persistent session that
// reconnects by itself and records what it receives (distinct: by topic
// and payload).
type collector struct {
	mu   sync.Mutex
	got  []received
	seen map[string]bool
	stop func() // disconnects (the session stays at the hub)
}

func (c *collector) distinct() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

func (c *collector) all() []received {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]received(nil), c.got...)
}

// payloads are the payloads received, in order.
func (c *collector) payloads() []string {
	var out []string
	for _, r := range c.all() {
		out = append(out, r.payload)
	}
	return out
}

func collect(t *testing.T, addr, id, filter string) *collector {
	t.Helper()
	return collectInto(t, &collector{seen: map[string]bool{}}, addr, id, filter)
}

// collectInto connects a subscriber that records into c.
func collectInto(t *testing.T, c *collector, addr, id, filter string) *collector {
	t.Helper()
	return collectAs(t, c, addr, id, "", filter)
}

// collectAs is collectInto with a username (the client id) and password.
func collectAs(t *testing.T, c *collector, addr, id, password, filter string) *collector {
	t.Helper()
	u, err := url.Parse("mqtt://" + addr)
	require.NoError(t, err)
	subscribed := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cm, err := autopaho.NewConnection(ctx, autopaho.ClientConfig{
		ServerUrls: []*url.URL{u}, KeepAlive: 30, SessionExpiryInterval: 3600,
		ReconnectBackoff: func(int) time.Duration { return 200 * time.Millisecond },
		ConnectUsername:  username(id, password), ConnectPassword: []byte(password),
		OnConnectionUp: func(cm *autopaho.ConnectionManager, _ *paho.Connack) {
			go func() {
				if _, err := cm.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: 1}}}); err == nil {
					select {
					case subscribed <- struct{}{}:
					default:
					}
				}
			}()
		},
		ClientConfig: paho.ClientConfig{ClientID: id, OnClientError: func(error) {},
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
				p := pr.Packet
				r := received{topic: p.Topic, payload: string(p.Payload), dup: p.Duplicate(), props: map[string]string{}}
				if p.Properties != nil {
					for _, u := range p.Properties.User {
						r.props[u.Key] = u.Value
					}
				}
				c.mu.Lock()
				c.got = append(c.got, r)
				c.seen[r.topic+"\x00"+r.payload] = true
				c.mu.Unlock()
				return true, nil
			}}},
	})
	require.NoError(t, err)
	var once sync.Once
	c.stop = func() { once.Do(func() { cancel(); <-cm.Done() }) }
	t.Cleanup(c.stop)
	select {
	case <-subscribed:
	case <-time.After(30 * time.Second):
		t.Fatal("collector did not subscribe")
	}
	return c
}

// username is id when a password is given ("" otherwise).
func username(id, password string) string {
	if password == "" {
		return ""
	}
	return id
}

// awaitDistinct waits (bounded) until c has n distinct messages.
func (c *collector) awaitDistinct(t *testing.T, n int, what string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for c.distinct() < n {
		require.True(t, time.Now().Before(deadline), "%s: %d of %d messages; per topic: %s", what, c.distinct(), n, c.perTopic())
		time.Sleep(50 * time.Millisecond)
	}
}

// perTopic describes what c received, for a failure: per topic the number
// of distinct payloads and, when they are numbers, the first numbers
// missing below the highest.
func (c *collector) perTopic() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	byTopic := map[string]map[int]bool{}
	other := map[string]int{}
	for k := range c.seen {
		topic, payload, _ := strings.Cut(k, "\x00")
		if byTopic[topic] == nil {
			byTopic[topic] = map[int]bool{}
		}
		if i, err := strconv.Atoi(payload); err == nil {
			byTopic[topic][i] = true
		} else {
			other[topic]++
		}
	}
	var out []string
	for topic, nums := range byTopic {
		top := -1
		for i := range nums {
			top = max(top, i)
		}
		var missing []string
		for i := 0; i < top && len(missing) < 10; i++ {
			if !nums[i] {
				missing = append(missing, strconv.Itoa(i))
			}
		}
		out = append(out, fmt.Sprintf("%s %d (highest %d, missing %v, other %d)", topic, len(nums), top, missing, other[topic]))
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}
