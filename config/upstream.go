package config

import (
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"time"

	"github.com/iothub-dev/iothub/mqtt/topic"
)

// Upstream makes this hub an edge: it forwards messages and rule outputs
// to a central hub over one MQTT 5 link, through durable queues, and
// relays commands from the centre down to its devices (docs/edge.md).
type Upstream struct {
	// URL is the central hub: mqtt://host:1883, mqtts://host:8883,
	// ws://host:8083/mqtt or wss://host:8084/mqtt ("": no upstream).
	URL string `yaml:"url" json:"url"`
	// Name is this edge's origin name on the centre ("": node.name).
	Name string `yaml:"name" json:"name"`
	// ClientID is the link's MQTT client id ("": iothub-edge-<name>).
	ClientID string `yaml:"client_id" json:"client_id"`
	// Username and Password authenticate the link.
	Username string `yaml:"username" json:"username"`
	Password Secret `yaml:"password" json:"password"`
	// JWTFile holds a JWT sent as the password, read at every connection
	// attempt (so a renewed token is picked up without a restart).
	JWTFile string `yaml:"jwt_file" json:"jwt_file"`
	// TLS configures mqtts:// and wss:// (client certificate included).
	TLS UpstreamTLS `yaml:"tls" json:"tls"`
	// KeepAlive is the MQTT keep alive of the link.
	KeepAlive Duration `yaml:"keep_alive" json:"keep_alive"`
	// SessionExpiry keeps the link's session on the centre while the link
	// is down (commands for the edge queue there meanwhile).
	SessionExpiry Duration `yaml:"session_expiry" json:"session_expiry"`
	// ConnectTimeout bounds a connection attempt; ReconnectMax bounds the
	// backoff between attempts.
	ConnectTimeout Duration `yaml:"connect_timeout" json:"connect_timeout"`
	ReconnectMax   Duration `yaml:"reconnect_max" json:"reconnect_max"`
	// Forward are topic filters of the default stream: matching messages
	// go up as published.
	Forward []string `yaml:"forward" json:"forward"`
	// Queue is the default stream's durable queue.
	Queue UpstreamQueue `yaml:"queue" json:"queue"`
	// Streams are more streams, each with its own queue and priority.
	Streams []UpstreamStream `yaml:"streams" json:"streams"`
	// RateLimit caps the messages sent up per second, every stream
	// together (0: no cap); it paces the drain of a backlog.
	RateLimit int `yaml:"rate_limit" json:"rate_limit"`
	// BandwidthLimit caps the payload and topic bytes sent up per second
	// (0: no cap).
	BandwidthLimit int `yaml:"bandwidth_limit" json:"bandwidth_limit"`
	// Subscribe are central filters whose messages are published here
	// (commands from Kafka, broadcasts).
	Subscribe []MQTTSubscription `yaml:"subscribe" json:"subscribe"`
	// Commands answers the centre's command relay for devices of this
	// edge (POST /api/v1/devices/{id}/commands at the centre).
	Commands bool `yaml:"commands" json:"commands"`
}

// UpstreamTLS configures TLS of an mqtts:// or wss:// upstream.
type UpstreamTLS struct {
	// CAFile is a PEM bundle of the CAs to trust ("": the system roots).
	CAFile string `yaml:"ca_file" json:"ca_file"`
	// CertFile and KeyFile are the edge's client certificate.
	CertFile string `yaml:"cert_file" json:"cert_file"`
	KeyFile  string `yaml:"key_file" json:"key_file"`
	// ServerName is checked in the centre's certificate ("": from the URL).
	ServerName string `yaml:"server_name" json:"server_name"`
	// InsecureSkipVerify does not check the centre's certificate (tests).
	InsecureSkipVerify bool `yaml:"insecure_skip_verify" json:"insecure_skip_verify"`
}

// UpstreamQueue is one stream's durable queue in
// data_dir/upstream/<stream>/.
type UpstreamQueue struct {
	// MaxBytes bounds the queue on disk.
	MaxBytes int `yaml:"max_bytes" json:"max_bytes"`
	// TTL drops messages older than it instead of sending them (0: never).
	TTL Duration `yaml:"ttl" json:"ttl"`
	// FullPolicy is drop_oldest or refuse (both counted).
	FullPolicy string `yaml:"full_policy" json:"full_policy"`
	// Fsync is always, interval or never (a kill -9 loses nothing with
	// any; a power cut may lose the last interval).
	Fsync string `yaml:"fsync" json:"fsync"`
}

// UpstreamStream is one more stream of the upstream link.
type UpstreamStream struct {
	// Name names the stream (its queue directory and the rule action's
	// stream key).
	Name string `yaml:"name" json:"name"`
	// Priority orders streams: while a stream of higher priority has a
	// backlog, lower ones wait.
	Priority int `yaml:"priority" json:"priority"`
	// Forward are the topic filters of this stream.
	Forward []string `yaml:"forward" json:"forward"`
	// Queue is this stream's durable queue.
	Queue UpstreamQueue `yaml:"queue" json:"queue"`
}

// Edges configures this hub as the centre of edge hubs: what it does with
// messages that edges forward.
type Edges struct {
	// DedupOrigins bounds the (edge, queue) pairs whose last routed
	// sequence number is remembered (least recently used forgotten).
	DedupOrigins int `yaml:"dedup_origins" json:"dedup_origins"`
	// CommandRelay sends a command for a device this hub has no session
	// for to the connected edges, and answers with the edge's outcome. Off
	// by default: the ACL must first keep $iothub/edges/commands to edges.
	CommandRelay bool `yaml:"command_relay" json:"command_relay"`
}

// DefaultStreamName is the name of the upstream's default stream.
const DefaultStreamName = "default"

func defaultUpstreamQueue() UpstreamQueue {
	return UpstreamQueue{MaxBytes: 1 << 30, FullPolicy: "drop_oldest", Fsync: "interval"}
}

func defaultUpstream() Upstream {
	return Upstream{KeepAlive: Duration(30 * time.Second), SessionExpiry: Duration(24 * time.Hour),
		ConnectTimeout: Duration(10 * time.Second), ReconnectMax: Duration(30 * time.Second),
		Queue: defaultUpstreamQueue(), Commands: true}
}

func defaultEdges() Edges { return Edges{DedupOrigins: 10000} }

func init() {
	elemDefaults[reflect.TypeFor[UpstreamStream]()] = func() any { return UpstreamStream{Queue: defaultUpstreamQueue()} }
}

var streamName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// Enabled reports whether an upstream is configured.
func (u *Upstream) Enabled() bool { return u.URL != "" }

func (u *Upstream) validate(v *checker) {
	if u.URL == "" {
		return
	}
	if p, err := url.Parse(u.URL); err != nil {
		v.bad("upstream.url", "%v", err)
	} else {
		switch p.Scheme {
		case "mqtt", "mqtts", "tcp", "ssl", "tls", "ws", "wss":
		default:
			v.bad("upstream.url", "%q: the scheme must be mqtt, mqtts, ws or wss", u.URL)
		}
		if p.Host == "" {
			v.bad("upstream.url", "%q: no host", u.URL)
		} else if p.Port() == "" {
			v.bad("upstream.url", "%q: no port", u.URL)
		}
	}
	if u.JWTFile != "" && u.Password != "" {
		v.bad("upstream.jwt_file", "password and jwt_file exclude each other")
	}
	v.file("upstream.jwt_file", u.JWTFile, false)
	v.file("upstream.tls.ca_file", u.TLS.CAFile, false)
	v.file("upstream.tls.cert_file", u.TLS.CertFile, false)
	v.file("upstream.tls.key_file", u.TLS.KeyFile, false)
	if (u.TLS.CertFile == "") != (u.TLS.KeyFile == "") {
		v.bad("upstream.tls.cert_file", "cert_file and key_file go together")
	}
	v.duration("upstream.keep_alive", u.KeepAlive, time.Second, 18*time.Hour)
	v.duration("upstream.connect_timeout", u.ConnectTimeout, 100*time.Millisecond, 0)
	v.duration("upstream.reconnect_max", u.ReconnectMax, 100*time.Millisecond, 0)
	v.atLeast("upstream.rate_limit", u.RateLimit, 0)
	v.atLeast("upstream.bandwidth_limit", u.BandwidthLimit, 0)
	validateFilters(v, "upstream.forward", u.Forward)
	u.Queue.validate(v, "upstream.queue")
	seen := map[string]bool{DefaultStreamName: true}
	for i, s := range u.Streams {
		key := "upstream.streams." + strconv.Itoa(i)
		switch {
		case !streamName.MatchString(s.Name):
			v.bad(key+".name", "%q: 1 to 64 letters, digits, _ - or .", s.Name)
		case seen[s.Name]:
			v.bad(key+".name", "%q: used twice (%q is the default stream)", s.Name, DefaultStreamName)
		}
		seen[s.Name] = true
		validateFilters(v, key+".forward", s.Forward)
		s.Queue.validate(v, key+".queue")
	}
	for i, s := range u.Subscribe {
		k := "upstream.subscribe." + strconv.Itoa(i)
		if s.Filter == "" {
			v.bad(k+".filter", "required")
		} else if err := topic.ValidateFilter(s.Filter); err != nil {
			v.bad(k+".filter", "%q: %v", s.Filter, err)
		}
		v.between(k+".qos", s.QoS, 0, 2)
		if s.LocalTopic == "" {
			v.bad(k+".local_topic", "required")
		}
	}
}

func (q *UpstreamQueue) validate(v *checker, key string) {
	v.atLeast(key+".max_bytes", q.MaxBytes, 1<<16)
	v.duration(key+".ttl", q.TTL, 0, 0)
	v.oneOf(key+".full_policy", q.FullPolicy, "drop_oldest", "refuse")
	v.oneOf(key+".fsync", q.Fsync, "always", "interval", "never")
}

func validateFilters(v *checker, key string, filters []string) {
	for i, f := range filters {
		if err := topic.ValidateFilter(f); err != nil {
			v.bad(key+"."+strconv.Itoa(i), "%q: %v", f, err)
		}
	}
}

func (e *Edges) validate(v *checker) {
	v.atLeast("edges.dedup_origins", e.DedupOrigins, 1)
}
