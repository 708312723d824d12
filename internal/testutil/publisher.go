package testutil

import (
	"context"

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
