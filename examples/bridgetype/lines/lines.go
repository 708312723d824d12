// Package lines is an example bridge type, complete: each record a rule
// hands it becomes one line of a file. The hub's shared engine gives it
// the durable queue, batching, retry, dead letter, status, metrics and the
// HTTP API; the package gives its settings, their defaults and checks, and
// the sink. Importing it registers the type "lines".
package lines

import (
	"context"
	"fmt"
	"os"
	"sync"

	"github.com/iothub-dev/iothub/bridge"
	"github.com/iothub-dev/iothub/config"
)

// Type is the value of a bridge's type key.
const Type = "lines"

func init() {
	bridge.RegisterType(bridge.TypeInfo{Name: Type, New: func() bridge.Config { return &Config{} }, Example: `lines:
  path: "" # the file the lines are appended to (required)
  value: "" # the line's template ("": the rule output as JSON)
`})
}

// Config is the type's keys: a lines section in the bridge's entry.
type Config struct {
	Lines struct {
		Path  string `yaml:"path"`
		Value string `yaml:"value"`
	} `yaml:"lines"`
}

// Validate implements bridge.Config: values only, no files opened.
func (c *Config) Validate() error {
	var v config.Checker
	v.Required("lines.path", c.Lines.Path)
	return v.Err()
}

// Build implements bridge.Config: the sink, and how a rule output becomes
// a record (the topic is written before each line).
func (c *Config) Build(bridge.BuildContext) (*bridge.Parts, error) {
	return &bridge.Parts{Sink: &Sink{path: c.Lines.Path}, Templates: bridge.Templates{
		Topic: bridge.TemplateSpec{Key: "lines", Text: "${topic}"},
		Value: bridge.TemplateSpec{Key: "lines.value", Text: c.Lines.Value}}}, nil
}

// Sink appends records to a file.
type Sink struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

// Send implements bridge.Sink: an error is retried by the engine (a
// bridge.Permanent one would go to the dead letter).
func (s *Sink) Send(_ context.Context, recs []bridge.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		f, err := os.OpenFile(s.path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			return fmt.Errorf("lines: %w", err)
		}
		s.f = f
	}
	var buf []byte
	for _, r := range recs {
		buf = append(append(append(append(buf, r.Topic...), ' '), r.Value...), '\n')
	}
	if _, err := s.f.Write(buf); err != nil {
		return fmt.Errorf("lines: %w", err)
	}
	return nil
}

// Close implements bridge.Sink.
func (s *Sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	return s.f.Close()
}

var (
	_ bridge.Config = (*Config)(nil)
	_ bridge.Sink   = (*Sink)(nil)
)
