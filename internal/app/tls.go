package app

import (
	"fmt"
	"time"

	"github.com/iothub-dev/iothub/config"
	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/listener"
)

// tlsSettings maps a tls or wss listener's config to listener settings.
func tlsSettings(t config.TLSListener, nextProtos []string) listener.TLSSettings {
	return listener.TLSSettings{
		CertFile: t.CertFile, KeyFile: t.KeyFile, CAFile: t.CAFile,
		ClientAuth: t.ClientAuth, MinVersion: t.MinVersion, NextProtos: nextProtos,
	}
}

// httpOnly is offered in ALPN by WSS listeners: the WebSocket upgrade is an
// HTTP/1.1 request.
var httpOnly = []string{"http/1.1"}

// loadTLS loads a listener's certificate and remembers its configuration
// for SIGHUP.
func (a *App) loadTLS(t config.TLSListener, nextProtos []string) (*listener.TLSConfig, error) {
	tc, err := listener.NewTLSConfig(tlsSettings(t, nextProtos))
	if err != nil {
		return nil, fmt.Errorf("listener %s: %w", t.Name, err)
	}
	a.rt.setTLS(t.Name, tc)
	a.logCertificate(t.Name, tc, "certificate loaded")
	return tc, nil
}

// logCertificate logs the subject and expiry of a listener's certificate,
// as a warning when it expires within 30 days.
func (a *App) logCertificate(name string, tc *listener.TLSConfig, what string) {
	cert := tc.Certificate()
	if cert == nil {
		return
	}
	left := time.Until(cert.NotAfter)
	log := a.log.Info
	if left < 30*24*time.Hour {
		log = a.log.Warn
	}
	log(what, "listener", name, "subject", cert.Subject.String(), "not_after", cert.NotAfter.UTC().Format(time.RFC3339))
}

// acceptOptions maps a tls or wss listener's config to accept options.
func acceptOptions(t config.TLSListener, tc *listener.TLSConfig) listener.AcceptOptions {
	return listener.AcceptOptions{
		Name: t.Name, ProxyProtocol: t.ProxyProtocol, TLS: tc,
		IdentityFrom: t.IdentityFrom, IdentityAs: t.IdentityAs,
	}
}

// startTLS opens the configured TLS and WSS listeners.
func (a *App) startTLS() error {
	for _, t := range a.cfg.Listeners.TLS {
		tc, err := a.loadTLS(t, nil)
		if err != nil {
			return err
		}
		raw, err := listenMQTT(t.Address, t.ProxyProtocol)
		if err != nil {
			return fmt.Errorf("listener %s: %w", t.Name, err)
		}
		o := acceptOptions(t, tc)
		o.Logger = a.log
		a.serve(listener.Wrap(raw, o),
			broker.ListenerOptions{Name: t.Name, MaxConnections: t.MaxConnections, MaxPacketSize: t.MaxPacketSize})
		a.log.Info("listening", "listener", t.Name, "protocol", "mqtt-tls", "address", raw.Addr().String(),
			"client_auth", t.ClientAuth, "identity_from", t.IdentityFrom, "proxy_protocol", t.ProxyProtocol)
	}
	for _, w := range a.cfg.Listeners.WSS {
		tc, err := a.loadTLS(w.TLSListener, httpOnly)
		if err != nil {
			return err
		}
		err = a.startWeb(webListener{
			name: w.Name, address: w.Address, path: w.Path, origins: w.AllowedOrigins, proxies: w.TrustedProxies,
			limits: broker.ListenerOptions{Name: w.Name, MaxConnections: w.MaxConnections, MaxPacketSize: w.MaxPacketSize},
			accept: acceptOptions(w.TLSListener, tc),
		})
		if err != nil {
			return err
		}
	}
	return nil
}
