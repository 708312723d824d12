package app

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/iothub-dev/iothub/auth"
	"github.com/iothub-dev/iothub/config"
	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/listener"
)

// runtimeState is what a reload changes in a running hub.
type runtimeState struct {
	mu  sync.Mutex                     // serialises reloads; guards the fields below
	tls map[string]*listener.TLSConfig // by listener name
	// running is the configuration in force after the last reload (nil:
	// App.cfg, which stays the configuration the hub started with).
	running *config.Config
}

func (r *runtimeState) setTLS(name string, tc *listener.TLSConfig) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tls == nil {
		r.tls = map[string]*listener.TLSConfig{}
	}
	r.tls[name] = tc
}

// ReloadReport says what a reload did.
type ReloadReport struct {
	// Applied are the changed keys now in force.
	Applied []string
	// NeedRestart are the changed keys that take effect only after a
	// restart; the hub keeps running with their old values.
	NeedRestart []string
	// Certificates are the listeners whose certificate files were read
	// again; Errors the listeners (and keys) whose new settings failed
	// and which keep their old ones.
	Certificates []string
	Errors       []error
	// Security is true when authentication, the ACL and the rate limits
	// were rebuilt (a key of auth, limits or mqtt.allow_anonymous changed,
	// or a file they read — auth.acl.file, JWT keys — may have).
	Security bool
}

// Reload applies next, a configuration loaded and validated as at start,
// to the running hub: log.level, the global and per-listener connection and
// packet-size limits, and the TLS settings (certificate, key, CA, client
// auth, minimum version) change at once; every TLS and WSS listener's files
// are read again even when their paths did not change, so that renewed
// certificates are picked up. Authentication, the ACL (auth.*, except
// auth.acl.disconnect_on_deny), mqtt.allow_anonymous and the rate limits
// (limits.*) are rebuilt and swapped (ReloadSecurity): connected clients
// keep their identity, and their cached ACL decisions are dropped. Nothing
// is disconnected. Every other change is reported in NeedRestart and not
// applied.
func (a *App) Reload(next config.Config) ReloadReport {
	a.rt.mu.Lock()
	defer a.rt.mu.Unlock()
	running := a.cfg
	if a.rt.running != nil {
		running = *a.rt.running
	}
	var rep ReloadReport
	tlsChanged := map[string][]string{} // listener prefix → changed TLS keys
	var secKeys []string
	for _, key := range config.Diff(running, next) {
		if isSecurityKey(key) {
			secKeys = append(secKeys, key)
			continue
		}
		switch kind, err := a.applyKey(&running, next, key); {
		case err != nil:
			rep.Errors = append(rep.Errors, fmt.Errorf("%s: %w", key, err))
		case kind == keyApplied:
			rep.Applied = append(rep.Applied, key)
		case kind == keyTLS:
			prefix := key[:strings.LastIndexByte(key, '.')]
			tlsChanged[prefix] = append(tlsChanged[prefix], key)
		default:
			rep.NeedRestart = append(rep.NeedRestart, key)
		}
	}
	a.reloadSecurity(&running, next, secKeys, &rep)
	a.reloadCertificates(&running, next, tlsChanged, &rep)
	a.rt.running = &running
	return rep
}

// isSecurityKey tells whether ReloadSecurity applies key.
func isSecurityKey(key string) bool {
	switch {
	case key == "auth.acl.disconnect_on_deny": // a broker option fixed at start
		return false
	case key == "mqtt.allow_anonymous", strings.HasPrefix(key, "auth."), strings.HasPrefix(key, "limits."):
		return true
	}
	return false
}

// reloadSecurity rebuilds authentication, the ACL and the rate limits when
// keys (security keys of next) changed or when they read files that may
// have (auth.acl.file, JWT keys). The rebuilt settings are running's with
// the auth and limits sections and mqtt.allow_anonymous of next. On error
// the hub keeps the old ones and every key is reported in Errors.
func (a *App) reloadSecurity(running *config.Config, next config.Config, keys []string, rep *ReloadReport) {
	j := running.Auth.JWT
	files := running.Auth.ACL.File != "" || j.PublicKeyFile != "" || j.JWKSFile != ""
	if len(keys) == 0 && !files {
		return
	}
	want := *running
	want.Auth, want.Limits, want.MQTT.AllowAnonymous = next.Auth, next.Limits, next.MQTT.AllowAnonymous
	want.Auth.ACL.DisconnectOnDeny = running.Auth.ACL.DisconnectOnDeny
	if err := a.ReloadSecurity(want); err != nil {
		rep.Errors = append(rep.Errors, fmt.Errorf("%s: authentication, ACL and limits keep their previous settings: %w",
			strings.Join(keys, ","), err))
		return
	}
	a.dropStaticBans(running.Auth.Ban.Static, want.Auth.Ban.Static)
	running.Auth, running.Limits, running.MQTT.AllowAnonymous = want.Auth, want.Limits, want.MQTT.AllowAnonymous
	rep.Applied = append(rep.Applied, keys...)
	rep.Security = true
}

// dropStaticBans removes the configured bans that the new configuration no
// longer lists (the ban list outlives reloads; bans added through the API
// or by the failure tracker stay, even on the same value).
func (a *App) dropStaticBans(old, kept []config.StaticBan) {
	for _, b := range old {
		if !slices.ContainsFunc(kept, func(k config.StaticBan) bool { return k.Kind == b.Kind && k.Value == b.Value }) {
			a.Bans().RemoveStatic(auth.BanKind(b.Kind), b.Value)
		}
	}
}

// The kinds of changed key.
const (
	keyRestart = iota
	keyApplied
	keyTLS
)

// tlsKeys are the listener keys a TLS reload applies.
var tlsKeys = []string{"cert_file", "key_file", "ca_file", "client_auth", "min_version"}

// applyKey applies one changed key of next to the hub and to running.
func (a *App) applyKey(running *config.Config, next config.Config, key string) (int, error) {
	switch key {
	case "log.level":
		if a.level == nil { // set by UseLevelVar
			return keyRestart, nil
		}
		if err := a.level.UnmarshalText([]byte(next.Log.Level)); err != nil {
			return keyRestart, fmt.Errorf("log level: %w", err)
		}
		running.Log.Level = next.Log.Level
		return keyApplied, nil
	case "mqtt.max_connections", "mqtt.max_packet_size":
		l := broker.Limits{MaxConnections: running.MQTT.MaxConnections, MaxPacketSize: running.MQTT.MaxPacketSize}
		if key == "mqtt.max_connections" {
			l.MaxConnections = next.MQTT.MaxConnections
		} else {
			l.MaxPacketSize = next.MQTT.MaxPacketSize
		}
		applied := l
		applied.MaxConnections = maxConnections(l.MaxConnections)
		if err := a.broker.SetLimits(applied); err != nil {
			return keyRestart, fmt.Errorf("broker limits: %w", err)
		}
		running.MQTT.MaxConnections, running.MQTT.MaxPacketSize = l.MaxConnections, l.MaxPacketSize
		return keyApplied, nil
	}
	return a.applyListenerKey(running, next, key)
}

// applyListenerKey applies a changed key of an existing listener, the same
// (by name) in running and next.
func (a *App) applyListenerKey(running *config.Config, next config.Config, key string) (int, error) {
	parts := strings.Split(key, ".")
	if len(parts) != 4 || parts[0] != "listeners" {
		return keyRestart, nil
	}
	i, err := strconv.Atoi(parts[2])
	if err != nil {
		return keyRestart, nil //nolint:nilerr // not a listener index: the change needs a restart
	}
	cur, ok1 := listenerAt(running, parts[1], i)
	nxt, ok2 := listenerAt(&next, parts[1], i)
	if !ok1 || !ok2 || *cur.name != *nxt.name {
		return keyRestart, nil
	}
	switch field := parts[3]; {
	case field == "max_connections" || field == "max_packet_size":
		lo := broker.ListenerOptions{Name: *cur.name, MaxConnections: *cur.maxConns, MaxPacketSize: *cur.maxPacket}
		if field == "max_connections" {
			lo.MaxConnections = *nxt.maxConns
		} else {
			lo.MaxPacketSize = *nxt.maxPacket
		}
		if err := a.broker.SetListenerLimits(lo); err != nil {
			return keyRestart, fmt.Errorf("listener limits: %w", err)
		}
		*cur.maxConns, *cur.maxPacket = lo.MaxConnections, lo.MaxPacketSize
		return keyApplied, nil
	case cur.tls != nil && slices.Contains(tlsKeys, field):
		return keyTLS, nil
	}
	return keyRestart, nil
}

// listenerRef points into one listener entry of a Config.
type listenerRef struct {
	name                *string
	maxConns, maxPacket *int
	tls                 *config.TLSListener // tls and wss only
}

func listenerAt(c *config.Config, kind string, i int) (listenerRef, bool) {
	l := &c.Listeners
	switch {
	case kind == "tcp" && i < len(l.TCP):
		e := &l.TCP[i]
		return listenerRef{&e.Name, &e.MaxConnections, &e.MaxPacketSize, nil}, true
	case kind == "ws" && i < len(l.WS):
		e := &l.WS[i]
		return listenerRef{&e.Name, &e.MaxConnections, &e.MaxPacketSize, nil}, true
	case kind == "tls" && i < len(l.TLS):
		e := &l.TLS[i]
		return listenerRef{&e.Name, &e.MaxConnections, &e.MaxPacketSize, e}, true
	case kind == "wss" && i < len(l.WSS):
		e := &l.WSS[i].TLSListener
		return listenerRef{&e.Name, &e.MaxConnections, &e.MaxPacketSize, e}, true
	}
	return listenerRef{}, false
}

// reloadCertificates reads every TLS and WSS listener's files again, with
// the TLS settings of next where they changed (tlsChanged, by key prefix).
// A listener whose new files fail keeps its old certificate and settings.
func (a *App) reloadCertificates(running *config.Config, next config.Config, tlsChanged map[string][]string, rep *ReloadReport) {
	for _, kind := range []string{"tls", "wss"} {
		for i := 0; ; i++ {
			cur, ok := listenerAt(running, kind, i)
			if !ok {
				break
			}
			prefix := "listeners." + kind + "." + strconv.Itoa(i)
			want := *cur.tls
			if keys := tlsChanged[prefix]; len(keys) > 0 {
				nxt, _ := listenerAt(&next, kind, i)
				want.CertFile, want.KeyFile, want.CAFile = nxt.tls.CertFile, nxt.tls.KeyFile, nxt.tls.CAFile
				want.ClientAuth, want.MinVersion = nxt.tls.ClientAuth, nxt.tls.MinVersion
			}
			tc := a.rt.tls[want.Name]
			if tc == nil {
				continue
			}
			var protos []string
			if kind == "wss" {
				protos = httpOnly
			}
			if err := tc.Reload(tlsSettings(want, protos)); err != nil {
				rep.Errors = append(rep.Errors, fmt.Errorf("listener %s keeps its previous certificate: %w", want.Name, err))
				continue
			}
			*cur.tls = want
			rep.Applied = append(rep.Applied, tlsChanged[prefix]...)
			rep.Certificates = append(rep.Certificates, want.Name)
			a.logCertificate(want.Name, tc, "certificate reloaded")
		}
	}
}

// reloadFrom loads the configuration with load (same file, environment and
// flags as at start) and applies it, logging what changed, what needs a
// restart and what failed. A configuration that does not load changes
// nothing.
func (a *App) reloadFrom(load func() (config.Config, error)) {
	a.log.Info("reloading the configuration (SIGHUP)")
	next, err := load()
	if err != nil {
		a.log.Error("configuration not reloaded: the hub keeps running with the previous one", "error", err)
		return
	}
	logWarnings(a.log, next)
	rep := a.Reload(next)
	if len(rep.NeedRestart) > 0 {
		a.log.Warn("configuration changes that need a restart (not applied)", "keys", strings.Join(rep.NeedRestart, ","))
	}
	for _, err := range rep.Errors {
		a.log.Error("configuration change not applied", "error", err)
	}
	a.log.Info("configuration reloaded", "applied", strings.Join(rep.Applied, ","), "security_rebuilt", rep.Security,
		"certificates", strings.Join(rep.Certificates, ","), "need_restart", len(rep.NeedRestart), "errors", len(rep.Errors))
}

// waitForStop serves signals until SIGINT or SIGTERM (exit status 0) or a
// fatal listener error (1); SIGHUP reloads the configuration with load.
func (a *App) waitForStop(sigs <-chan os.Signal, load func() (config.Config, error)) int {
	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				if load != nil {
					a.reloadFrom(load)
				}
				continue
			}
			a.log.Info("shutting down", "signal", sig.String())
			return exitOK
		case err := <-a.Errors():
			a.log.Error("listener failed; shutting down", "error", err)
			return exitFail
		}
	}
}
