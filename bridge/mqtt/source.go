package mqtt

import (
	"context"
	"strings"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/iothub-dev/iothub/bridge"
	"github.com/iothub-dev/iothub/mqtt/topic"
	"github.com/iothub-dev/iothub/msg"
)

// Source returns the link's inbound side, a bridge.Source on the same
// connection (so that No Local applies to what the link forwards).
func (l *Link) Source() bridge.Source { return (*source)(l) }

type source Link

// Run hands the messages of the remote subscriptions to publish until ctx
// is done.
func (s *source) Run(ctx context.Context, publish func(*msg.Message) error) error {
	s.publish.Store(&publish)
	s.once.Do(func() { close(s.ready) })
	<-ctx.Done()
	return nil
}

// Health reports whether the link is up.
func (s *source) Health(ctx context.Context) error { return (*Link)(s).Health(ctx) }

// onPublish publishes a remote message locally, retrying until the hub
// takes it (or refuses it for good), then acknowledges it to the remote.
func (l *Link) onPublish(pr paho.PublishReceived) (bool, error) {
	p := pr.Packet
	if m := l.message(p); m != nil && l.deliver(m) != nil {
		return true, nil //nolint:nilerr // closing: not acknowledged, the remote sends it again
	}
	if p.QoS > 0 {
		if err := pr.Client.Ack(p); err != nil {
			l.log.Debug("mqtt bridge: ack", "error", err)
		}
	}
	return true, nil
}

// deliver waits for the source to run and publishes m; it returns an
// error only when the link is closing.
func (l *Link) deliver(m *msg.Message) error {
	select {
	case <-l.ready:
	case <-l.ctx.Done():
		return l.ctx.Err()
	}
	d := 50 * time.Millisecond
	for {
		pub := *l.publish.Load()
		err := pub(m)
		if err == nil || bridge.IsPermanent(err) {
			return nil
		}
		t := time.NewTimer(d)
		select {
		case <-l.ctx.Done():
			t.Stop()
			return l.ctx.Err()
		case <-t.C:
		}
		d = min(2*d, 5*time.Second)
	}
}

// message is the local message for remote publish p (nil when no
// subscription matches it).
func (l *Link) message(p *paho.Publish) *msg.Message {
	for i := range l.subs {
		sb := &l.subs[i]
		if !topic.Match(sb.matchFilter(), p.Topic) {
			continue
		}
		lookup := func(name string) []byte {
			if name == "suffix" {
				return []byte(topic.DropLevels(p.Topic, sb.prefix))
			}
			return []byte(p.Topic)
		}
		m := &msg.Message{Topic: sb.local.Render(lookup), QoS: min(p.QoS, sb.QoS), Retain: p.Retain,
			Payload: p.Payload, Origin: msg.Origin{Kind: msg.OriginBridge, Name: l.o.Name}, ReceivedAt: time.Now()}
		if p.Properties != nil {
			for _, u := range p.Properties.User {
				m.UserProperties = append(m.UserProperties, msg.UserProperty{Key: u.Key, Value: u.Value})
			}
		}
		return m
	}
	return nil
}

// matchFilter is the filter without a $share/<group>/ prefix.
func (s *sub) matchFilter() string {
	if rest, ok := strings.CutPrefix(s.Filter, "$share/"); ok {
		if _, f, ok := strings.Cut(rest, "/"); ok {
			return f
		}
	}
	return s.Filter
}
