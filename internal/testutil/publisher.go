package testutil

import (
	"context"
	"testing"
	"time"

	"github.com/iothub-dev/iothub/msg"
)

// Publisher hands every message published to it to its channel: a
// publisher for the rule engine and the device services (their Publisher
// interfaces) whose output a test reads in order. Its buffer must hold
// what a test publishes and does not read.
type Publisher chan *msg.Message

// NewPublisher returns a Publisher with room for 100 unread messages.
func NewPublisher() Publisher { return make(Publisher, 100) }

// Publish sends m to the channel and reports one delivery.
func (p Publisher) Publish(_ context.Context, m *msg.Message) (int, error) {
	p <- m
	return 1, nil
}

// Next returns the next message published on topic, skipping others, and
// fails the test when none comes within 10 seconds.
func (p Publisher) Next(t testing.TB, topic string) *msg.Message {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m := <-p:
			if m.Topic == topic {
				return m
			}
		case <-timeout:
			t.Fatalf("nothing published on %s", topic)
			return nil
		}
	}
}
