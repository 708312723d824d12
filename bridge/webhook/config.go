package webhook

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/iothub-dev/iothub/bridge"
	"github.com/iothub-dev/iothub/config"
)

// Type is this package's bridge type.
const Type = "webhook"

func init() {
	bridge.RegisterType(bridge.TypeInfo{Name: Type, New: func() bridge.Config { return NewConfig() }, Example: example})
}

// Config is the webhook type's keys: one HTTP request per rule output
// (docs/bridges.md).
type Config struct {
	Webhook Settings `yaml:"webhook"`
}

// Settings is the webhook section. URL, body and header values are
// templates naming event fields as ${field} or ${payload.path}. An https
// URL uses the bridge's tls files (its enabled key is not needed).
type Settings struct {
	// Method is POST or PUT.
	Method string `yaml:"method"`
	// URL is the URL template (http or https).
	URL string `yaml:"url"`
	// Body is the body template ("": the rule output as JSON).
	Body string `yaml:"body"`
	// Headers are header templates (Content-Type defaults to
	// application/json).
	Headers []bridge.KeyValue `yaml:"headers"`
	// Secret signs each body with HMAC-SHA256 ("": no signature).
	Secret config.Secret `yaml:"secret"`
	// SignatureHeader carries "sha256=<hex of the HMAC>".
	SignatureHeader string `yaml:"signature_header"`
	// PoolSize bounds the connections to a host (and the requests a batch
	// sends at once).
	PoolSize int `yaml:"pool_size"`
	// Timeout bounds one request, answer included.
	Timeout config.Duration `yaml:"timeout"`
	// ConnectTimeout bounds a TCP (and TLS) connection attempt.
	ConnectTimeout config.Duration `yaml:"connect_timeout"`
	// IdleTimeout closes keep-alive connections idle this long.
	IdleTimeout config.Duration `yaml:"idle_timeout"`
	// HealthURL is requested (HEAD) while the bridge is idle: any answer
	// within timeout means the receiver is up ("": the URL's scheme and
	// host when they hold no template; "none": no check).
	HealthURL string `yaml:"health_url"`
}

// NewConfig returns the webhook defaults.
func NewConfig() *Config {
	return &Config{Webhook: Settings{Method: http.MethodPost, SignatureHeader: "X-Iothub-Signature", PoolSize: 8,
		Timeout: config.Duration(5 * time.Second), ConnectTimeout: config.Duration(5 * time.Second),
		IdleTimeout: config.Duration(90 * time.Second)}}
}

// Validate implements bridge.Config.
func (c *Config) Validate() error {
	var v config.Checker
	w := &c.Webhook
	v.OneOf("webhook.method", w.Method, http.MethodPost, http.MethodPut)
	switch {
	case w.URL == "":
		v.Bad("webhook.url", "required")
	case !strings.HasPrefix(w.URL, "http://") && !strings.HasPrefix(w.URL, "https://"):
		v.Bad("webhook.url", "%q: want an http:// or https:// URL", w.URL)
	case !strings.Contains(w.URL, "${"):
		if _, err := url.Parse(w.URL); err != nil {
			v.Bad("webhook.url", "%v", err)
		}
	}
	for j, h := range w.Headers {
		if h.Key == "" || strings.ContainsAny(h.Key, " \t\r\n:") {
			v.Bad("webhook.headers."+strconv.Itoa(j)+".key", "%q is not a header name", h.Key)
		}
	}
	if w.Secret != "" && (w.SignatureHeader == "" || strings.ContainsAny(w.SignatureHeader, " \t\r\n:")) {
		v.Bad("webhook.signature_header", "%q is not a header name", w.SignatureHeader)
	}
	v.Between("webhook.pool_size", w.PoolSize, 1, 1000)
	v.Duration("webhook.timeout", w.Timeout, 10*time.Millisecond, 0)
	v.Duration("webhook.connect_timeout", w.ConnectTimeout, 10*time.Millisecond, 0)
	v.Duration("webhook.idle_timeout", w.IdleTimeout, time.Second, 0)
	if h := w.HealthURL; h != "" && h != "none" && !strings.HasPrefix(h, "http://") && !strings.HasPrefix(h, "https://") {
		v.Bad("webhook.health_url", "%q: want an http:// or https:// URL, or none", h)
	}
	return v.Err()
}

// Build implements bridge.Config: a Sink and the record templates (the
// URL as Topic, the client id as Key: one device's records go in order,
// the body as Value, the header templates as headers). A batch holds at
// most 4 × pool_size records, so that it ends well within send_timeout
// even against a slow receiver.
func (c *Config) Build(bc bridge.BuildContext) (*bridge.Parts, error) {
	w := c.Webhook
	o := Options{Method: w.Method, SignatureHeader: w.SignatureHeader, PoolSize: w.PoolSize, Timeout: w.Timeout.D(),
		ConnectTimeout: w.ConnectTimeout.D(), IdleTimeout: w.IdleTimeout.D(), TLS: bc.TLS,
		HealthURL: healthURL(w.HealthURL, w.URL), Logger: bc.Logger}
	if w.Secret != "" {
		o.Secret = []byte(w.Secret)
	}
	s, err := New(o)
	if err != nil {
		return nil, err
	}
	return &bridge.Parts{Sink: s, MaxBatch: 4 * w.PoolSize, Templates: bridge.Templates{
		Topic: bridge.TemplateSpec{Key: "webhook.url", Text: w.URL}, Value: bridge.TemplateSpec{Key: "webhook.body", Text: w.Body},
		HeadersKey: "webhook.headers", Headers: w.Headers, Check: CheckRecord}}, nil
}

// healthURL is the URL a webhook bridge checks while idle: the configured
// one, none, or the scheme and host of the URL template when they hold no
// placeholder.
func healthURL(configured, tpl string) string {
	switch configured {
	case "none":
		return ""
	case "":
	default:
		return configured
	}
	u, err := url.Parse(tpl)
	if err != nil || u.Host == "" || strings.Contains(u.Scheme+"://"+u.Host, "${") {
		return ""
	}
	return u.Scheme + "://" + u.Host + "/"
}

const example = `webhook:
  method: POST # POST or PUT
  url: "" # URL template, http or https (required)
  body: "" # body template ("": the rule output as JSON)
  headers:
    - key: X-Device # header name
      value: ${clientid} # header value template
  secret: "" # HMAC-SHA256 key signing each body ("": no signature)
  signature_header: X-Iothub-Signature # carries sha256=<hex of the HMAC of the body>
  pool_size: 8 # keep-alive connections per host, and requests of a batch in flight
  timeout: 5s # bound on one request, answer included
  connect_timeout: 5s # bound on a TCP connection and TLS handshake
  idle_timeout: 1m30s # idle keep-alive connections are closed after this
  health_url: "" # HEAD while idle, any answer = up ("": the URL's scheme://host/ when fixed; none: no check)
`

var _ bridge.Config = (*Config)(nil)
