package config

import (
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Largest packet MQTT can express: a 1-byte header, a 4-byte remaining
// length and 268,435,455 bytes.
const maxMQTTPacket = 268_435_460

// Validate checks every setting and returns all problems found, joined with
// errors.Join, each a *KeyError (unwrapping to ErrInvalid) naming its key
// path. Load calls it; call it again after Set. It reads the file system to
// check that certificate files exist.
func (c *Config) Validate() error {
	return c.validate().join()
}

// checker accumulates validation errors.
type checker struct{ errorList }

func (v *checker) bad(key, format string, args ...any) {
	v.add(ErrInvalid, key, format, args...)
}

func (v *checker) oneOf(key, val string, allowed ...string) {
	if !slices.Contains(allowed, val) {
		v.bad(key, "%q is not one of %s", val, strings.Join(allowed, ", "))
	}
}

func (v *checker) between(key string, n, lo, hi int) {
	if n < lo || n > hi {
		v.bad(key, "%d is out of range [%d, %d]", n, lo, hi)
	}
}

func (v *checker) atLeast(key string, n, lo int) {
	if n < lo {
		v.bad(key, "%d must be at least %d", n, lo)
	}
}

func (v *checker) duration(key string, d Duration, lo, hi time.Duration) {
	if d.D() < lo || (hi > 0 && d.D() > hi) {
		limit := "at least " + Duration(lo).String()
		if hi > 0 {
			limit = "between " + Duration(lo).String() + " and " + Duration(hi).String()
		}
		v.bad(key, "%s must be %s", d, limit)
	}
}

func (v *checker) file(key, path string, required bool) {
	if path == "" {
		if required {
			v.bad(key, "required")
		}
		return
	}
	switch st, err := os.Stat(path); {
	case err != nil:
		v.bad(key, "%v", err)
	case st.IsDir():
		v.bad(key, "%s is a directory", path)
	}
}

// address checks a host:port with a numeric port, and returns the port
// ("" if the address is bad).
func (v *checker) address(key, addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.bad(key, "%q is not host:port (%v)", addr, err)
		return ""
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		v.bad(key, "%q: port must be a number from 0 to 65535", addr)
		return ""
	}
	return port
}

func (c *Config) validate() errorList {
	var v checker
	if strings.TrimSpace(c.Node.Name) == "" {
		v.bad("node.name", "required")
	}
	if c.DataDir == "" {
		v.bad("data_dir", "required")
	}
	v.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	v.oneOf("log.format", c.Log.Format, "text", "json")
	c.validateListeners(&v)
	c.API.validate(&v)
	c.MQTT.validate(&v)
	c.validateAuth(&v)
	c.Rules.validate(&v)
	c.Storage.validate(&v)
	c.Cluster.validate(&v)
	validateBridges(c.Bridges, &v)
	c.Devices.validate(&v)
	c.Upstream.validate(&v)
	c.Edges.validate(&v)
	return v.errorList
}

// listenerCommon is what every kind of listener shares, for the checks
// across lists.
type listenerCommon struct {
	key, name, address  string
	maxConns, maxPacket int
}

func (c *Config) validateListeners(v *checker) {
	var all []listenerCommon
	l := &c.Listeners
	for i, t := range l.TCP {
		all = append(all, listenerCommon{"listeners.tcp." + strconv.Itoa(i), t.Name, t.Address, t.MaxConnections, t.MaxPacketSize})
	}
	for i, w := range l.WS {
		key := "listeners.ws." + strconv.Itoa(i)
		all = append(all, listenerCommon{key, w.Name, w.Address, w.MaxConnections, w.MaxPacketSize})
		validateWeb(v, key, w.Path, w.AllowedOrigins, w.TrustedProxies)
	}
	for i, t := range l.TLS {
		key := "listeners.tls." + strconv.Itoa(i)
		all = append(all, listenerCommon{key, t.Name, t.Address, t.MaxConnections, t.MaxPacketSize})
		t.validate(v, key)
	}
	for i, w := range l.WSS {
		key := "listeners.wss." + strconv.Itoa(i)
		all = append(all, listenerCommon{key, w.Name, w.Address, w.MaxConnections, w.MaxPacketSize})
		w.TLSListener.validate(v, key)
		validateWeb(v, key, w.Path, w.AllowedOrigins, w.TrustedProxies)
	}
	names := map[string]string{}
	addrs := map[string]string{c.API.Address: "api.address"}
	for _, lc := range all {
		if strings.TrimSpace(lc.name) == "" {
			v.bad(lc.key+".name", "required")
		} else if prev, dup := names[lc.name]; dup {
			v.bad(lc.key+".name", "duplicate listener name %q (also %s)", lc.name, prev)
		} else {
			names[lc.name] = lc.key + ".name"
		}
		port := v.address(lc.key+".address", lc.address)
		if prev, dup := addrs[lc.address]; dup && port != "" && !strings.HasSuffix(lc.address, ":0") {
			v.bad(lc.key+".address", "duplicate address %q (also %s)", lc.address, prev)
		} else if port != "" {
			addrs[lc.address] = lc.key + ".address"
		}
		v.atLeast(lc.key+".max_connections", lc.maxConns, 0)
		if lc.maxPacket != 0 {
			v.between(lc.key+".max_packet_size", lc.maxPacket, 16, maxMQTTPacket)
		}
	}
}

// validateWeb checks the WebSocket settings of a ws or wss listener.
func validateWeb(v *checker, key, path string, origins, proxies []string) {
	if !strings.HasPrefix(path, "/") {
		v.bad(key+".path", "%q must start with /", path)
	}
	for i, o := range origins {
		if strings.TrimSpace(o) == "" {
			v.bad(key+".allowed_origins."+strconv.Itoa(i), "empty origin")
		}
	}
	for i, p := range proxies {
		if _, err := netip.ParsePrefix(p); err == nil {
			continue
		}
		if _, err := netip.ParseAddr(p); err != nil {
			v.bad(key+".trusted_proxies."+strconv.Itoa(i), "%q is neither an IP address nor a CIDR", p)
		}
	}
}

func (t *TLSListener) validate(v *checker, key string) {
	v.file(key+".cert_file", t.CertFile, true)
	v.file(key+".key_file", t.KeyFile, true)
	v.file(key+".ca_file", t.CAFile, false)
	v.oneOf(key+".client_auth", t.ClientAuth, "none", "request", "require")
	if t.ClientAuth != "none" && t.CAFile == "" {
		v.bad(key+".ca_file", "required when client_auth is %q", t.ClientAuth)
	}
	v.oneOf(key+".min_version", t.MinVersion, "1.2", "1.3")
	v.oneOf(key+".identity_from", t.IdentityFrom, "none", "cn", "san")
	if t.IdentityFrom != "none" && t.ClientAuth == "none" {
		v.bad(key+".identity_from", "%q needs client_auth request or require", t.IdentityFrom)
	}
	v.oneOf(key+".identity_as", t.IdentityAs, "username", "client_id")
}

// validate mirrors the ranges the broker accepts, so that a bad limit is
// reported with its key rather than at broker start.
func (m *MQTT) validate(v *checker) {
	v.atLeast("mqtt.max_connections", m.MaxConnections, 0)
	v.between("mqtt.max_packet_size", m.MaxPacketSize, 16, maxMQTTPacket)
	v.between("mqtt.max_inflight", m.MaxInflight, 1, 65535)
	v.atLeast("mqtt.max_queued_messages", m.MaxQueuedMessages, 1)
	v.oneOf("mqtt.queue_full_policy", m.QueueFullPolicy, "drop_oldest", "drop_new")
	v.atLeast("mqtt.max_pending_writes", m.MaxPendingWrites, 1)
	v.atLeast("mqtt.max_queued_bytes", m.MaxQueuedBytes, 0)
	v.atLeast("mqtt.max_backlog_bytes", m.MaxBacklogBytes, 0)
	v.atLeast("mqtt.max_pending_write_bytes", m.MaxPendingWriteBytes, 0)
	v.atLeast("mqtt.max_buffered_bytes", m.MaxBufferedBytes, -1)
	v.atLeast("mqtt.max_connecting_bytes", m.MaxConnectingBytes, -1)
	v.duration("mqtt.backpressure_timeout", m.BackpressureTimeout, 0, 0)
	v.atLeast("mqtt.backpressure_queue", m.BackpressureQueue, 0)
	v.atLeast("mqtt.max_topic_levels", m.MaxTopicLevels, 1)
	v.between("mqtt.max_topic_length", m.MaxTopicLength, 1, 65535)
	v.atLeast("mqtt.max_subscriptions_per_client", m.MaxSubscriptionsPerClient, 0)
	v.duration("mqtt.connect_timeout", m.ConnectTimeout, time.Millisecond, 0)
	// MQTT keep alive is a 16-bit number of seconds.
	v.duration("mqtt.max_keepalive", m.MaxKeepAlive, 0, 65535*time.Second)
	// v5 Session Expiry Interval is a 32-bit number of seconds.
	v.duration("mqtt.max_session_expiry", m.MaxSessionExpiry, 0, 4294967295*time.Second)
	v.between("mqtt.topic_alias_maximum", m.TopicAliasMaximum, 0, 65535)
	v.oneOf("mqtt.shared_subscription_strategy", m.SharedSubscriptionStrategy, "round_robin", "random")
	v.duration("mqtt.write_timeout", m.WriteTimeout, time.Millisecond, 0)
	v.duration("mqtt.write_coalesce", m.WriteCoalesce, 0, 10*time.Millisecond)
	v.duration("mqtt.park_idle_after", m.ParkIdleAfter, 0, 0)
	v.duration("mqtt.sys_interval", m.SysInterval, 0, 0)
	v.duration("mqtt.expiry_sweep_interval", m.ExpirySweepInterval, 0, 0)
	v.atLeast("mqtt.max_retained", m.MaxRetained, 0)
	v.atLeast("mqtt.event_buffer", m.EventBuffer, 1)
}

// adopt adds the problems err holds (a bridge type's Validate), each
// *KeyError with prefix joined to its key, any other error on prefix.
func (v *checker) adopt(prefix string, err error) {
	switch e := err.(type) { //nolint:errorlint // walking errors.Join's tree by hand
	case nil:
	case interface{ Unwrap() []error }:
		for _, sub := range e.Unwrap() {
			v.adopt(prefix, sub)
		}
	case *KeyError:
		ke := *e
		ke.Key = join(prefix, e.Key)
		if ke.Err == nil {
			ke.Err = ErrInvalid
		}
		v.errorList = append(v.errorList, &ke)
	default:
		v.bad(prefix, "%v", err)
	}
}

// Checker collects the problems of a bridge type's settings
// (bridge.Config.Validate) with the same checks as this package's own:
// each is a *KeyError naming its key relative to the bridge's entry, which
// the configuration then reports under the entry's key path.
type Checker struct{ c checker }

// Bad records a problem with key.
func (c *Checker) Bad(key, format string, args ...any) { c.c.bad(key, format, args...) }

// Required records key as missing when val is empty.
func (c *Checker) Required(key, val string) {
	if val == "" {
		c.c.bad(key, "required")
	}
}

// OneOf records val when it is none of allowed.
func (c *Checker) OneOf(key, val string, allowed ...string) { c.c.oneOf(key, val, allowed...) }

// Between records n when it is outside [lo, hi].
func (c *Checker) Between(key string, n, lo, hi int) { c.c.between(key, n, lo, hi) }

// Duration records d when it is below lo or (hi > 0) above hi.
func (c *Checker) Duration(key string, d Duration, lo, hi time.Duration) {
	c.c.duration(key, d, lo, hi)
}

// Address records addr when it is not host:port with a numeric port.
func (c *Checker) Address(key, addr string) { c.c.address(key, addr) }

// Err returns the problems recorded, joined, or nil.
func (c *Checker) Err() error { return c.c.join() }
