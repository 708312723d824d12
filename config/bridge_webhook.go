package config

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// WebhookBridge is the webhook bridge: one HTTP request per rule output
// (docs/bridges.md). URL, body and header values are templates naming
// event fields as ${field} or ${payload.path}.
type WebhookBridge struct {
	// Method is POST or PUT.
	Method string `yaml:"method" json:"method"`
	// URL is the URL template (http or https).
	URL string `yaml:"url" json:"url"`
	// Body is the body template ("": the rule output as JSON).
	Body string `yaml:"body" json:"body"`
	// Headers are header templates (Content-Type defaults to
	// application/json).
	Headers []KafkaHeader `yaml:"headers" json:"headers"`
	// Secret signs each body with HMAC-SHA256 ("": no signature).
	Secret Secret `yaml:"secret" json:"secret"`
	// SignatureHeader carries "sha256=<hex of the HMAC>".
	SignatureHeader string `yaml:"signature_header" json:"signature_header"`
	// PoolSize bounds the connections to a host (and the requests a batch
	// sends at once).
	PoolSize int `yaml:"pool_size" json:"pool_size"`
	// Timeout bounds one request, answer included.
	Timeout Duration `yaml:"timeout" json:"timeout"`
	// ConnectTimeout bounds a TCP (and TLS) connection attempt.
	ConnectTimeout Duration `yaml:"connect_timeout" json:"connect_timeout"`
	// IdleTimeout closes keep-alive connections idle this long.
	IdleTimeout Duration `yaml:"idle_timeout" json:"idle_timeout"`
	// TLS configures https URLs (enabled is ignored: the scheme decides).
	TLS KafkaTLS `yaml:"tls" json:"tls"`
	// HealthURL is requested (HEAD) while the bridge is idle: any answer
	// within timeout means the receiver is up ("": the URL's scheme and
	// host when they hold no template; "none": no check).
	HealthURL string `yaml:"health_url" json:"health_url"`
}

func defaultWebhook() WebhookBridge {
	return WebhookBridge{Method: http.MethodPost, SignatureHeader: "X-Iothub-Signature", PoolSize: 8,
		Timeout: Duration(5 * time.Second), ConnectTimeout: Duration(5 * time.Second),
		IdleTimeout: Duration(90 * time.Second)}
}

func (w *WebhookBridge) validate(key string, v *checker) {
	v.oneOf(join(key, "webhook.method"), w.Method, http.MethodPost, http.MethodPut)
	switch {
	case w.URL == "":
		v.bad(join(key, "webhook.url"), "required")
	case !strings.HasPrefix(w.URL, "http://") && !strings.HasPrefix(w.URL, "https://"):
		v.bad(join(key, "webhook.url"), "%q: want an http:// or https:// URL", w.URL)
	case !strings.Contains(w.URL, "${"):
		if _, err := url.Parse(w.URL); err != nil {
			v.bad(join(key, "webhook.url"), "%v", err)
		}
	}
	for j, h := range w.Headers {
		if h.Key == "" || strings.ContainsAny(h.Key, " \t\r\n:") {
			v.bad(join(key, "webhook.headers.")+strconv.Itoa(j)+".key", "%q is not a header name", h.Key)
		}
	}
	if w.Secret != "" && (w.SignatureHeader == "" || strings.ContainsAny(w.SignatureHeader, " \t\r\n:")) {
		v.bad(join(key, "webhook.signature_header"), "%q is not a header name", w.SignatureHeader)
	}
	v.between(join(key, "webhook.pool_size"), w.PoolSize, 1, 1000)
	v.duration(join(key, "webhook.timeout"), w.Timeout, 10*time.Millisecond, 0)
	v.duration(join(key, "webhook.connect_timeout"), w.ConnectTimeout, 10*time.Millisecond, 0)
	v.duration(join(key, "webhook.idle_timeout"), w.IdleTimeout, time.Second, 0)
	if h := w.HealthURL; h != "" && h != "none" && !strings.HasPrefix(h, "http://") && !strings.HasPrefix(h, "https://") {
		v.bad(join(key, "webhook.health_url"), "%q: want an http:// or https:// URL, or none", h)
	}
	v.file(join(key, "webhook.tls.ca_file"), w.TLS.CAFile, false)
	if (w.TLS.CertFile == "") != (w.TLS.KeyFile == "") {
		v.bad(join(key, "webhook.tls.cert_file"), "cert_file and key_file go together")
	}
}
