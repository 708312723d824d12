package bridgemgr

import (
	"log/slog"
	"net/url"
	"strings"

	"github.com/iothub-dev/iothub/bridge/webhook"
	"github.com/iothub-dev/iothub/config"
)

// webhookSink returns a webhook bridge's record templates (the URL as
// Topic, the client id as Key: one device's records go in order, the body
// as Value, the header templates as headers) and the sink's options.
func webhookSink(def *config.Bridge, log *slog.Logger) (sinkTemplates, webhook.Options, error) {
	w := def.Webhook
	o := webhook.Options{Method: w.Method, SignatureHeader: w.SignatureHeader, PoolSize: w.PoolSize,
		Timeout: w.Timeout.D(), ConnectTimeout: w.ConnectTimeout.D(), IdleTimeout: w.IdleTimeout.D(), Logger: log}
	if w.Secret != "" {
		o.Secret = []byte(w.Secret)
	}
	tc, err := tlsSettings("webhook.tls", w.TLS)
	if err != nil {
		return sinkTemplates{}, o, err
	}
	o.TLS = tc
	o.HealthURL = healthURL(w.HealthURL, w.URL)
	return sinkTemplates{topic: keyed{"webhook.url", w.URL}, value: keyed{"webhook.body", w.Body},
		headersKey: "webhook.headers", headers: w.Headers, check: webhook.CheckRecord}, o, nil
}

// checkWebhook parses a webhook bridge's templates and options.
func checkWebhook(def *config.Bridge) error {
	tpl, o, err := webhookSink(def, nil)
	if err != nil {
		return err
	}
	if _, err := newSinkMapping(tpl); err != nil {
		return err
	}
	s, err := webhook.New(o)
	if err != nil {
		return err
	}
	return s.Close()
}

// startWebhook starts a webhook bridge.
func (m *Manager) startWebhook(def *config.Bridge, log *slog.Logger) (*running, error) {
	tpl, o, err := webhookSink(def, log)
	if err != nil {
		return nil, err
	}
	mp, err := newSinkMapping(tpl)
	if err != nil {
		return nil, err
	}
	s, err := webhook.New(o)
	if err != nil {
		return nil, err
	}
	return m.startSink(def, s, mp)
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
