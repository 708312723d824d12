package device

import (
	"github.com/iothub-dev/iothub/internal/device/thing"
	"github.com/iothub-dev/iothub/msg"
)

// Service serves the requests of one service name under a thing
// ("shadow", "jobs"); *shadow.Service and *jobs.Service implement it.
type Service interface {
	// HandlesTopic reports whether t is one of the service's request
	// topics; it must be cheap and must not block.
	HandlesTopic(t thing.Topic) bool
	// HandleMessage queues the request m published on t; it must not
	// block.
	HandleMessage(t thing.Topic, m *msg.Message)
}

// Dispatcher routes requests published on $aws/things/{thing}/{service}/…
// to the service registered under that name. It implements the broker's
// TopicHandler.
type Dispatcher struct {
	services map[string]Service
}

// NewDispatcher returns a dispatcher for services, keyed by the topic
// level after the thing name.
func NewDispatcher(services map[string]Service) *Dispatcher {
	return &Dispatcher{services: services}
}

// route returns the parsed topic and its service when topic is a request
// topic of a valid thing name.
func (d *Dispatcher) route(topic string) (thing.Topic, Service, bool) {
	t, ok := thing.Parse(topic)
	if !ok {
		return t, nil, false
	}
	s, ok := d.services[t.Service]
	if !ok || thing.ValidName(t.Thing, thing.MaxNameLen) != nil || !s.HandlesTopic(t) {
		return t, nil, false
	}
	return t, s, true
}

// HandlesTopic reports whether topic is a request topic of a service.
func (d *Dispatcher) HandlesTopic(topic string) bool {
	_, _, ok := d.route(topic)
	return ok
}

// HandleMessage hands m to its service.
func (d *Dispatcher) HandleMessage(m *msg.Message) {
	if t, s, ok := d.route(m.Topic); ok {
		s.HandleMessage(t, m)
	}
}
