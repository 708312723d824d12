package redis

import (
	"strconv"
	"time"

	"github.com/iothub-dev/iothub/bridge"
	"github.com/iothub-dev/iothub/config"
)

// Type is this package's bridge type.
const Type = "redis"

func init() {
	bridge.RegisterType(bridge.TypeInfo{Name: Type, New: func() bridge.Config { return NewConfig() }, Example: example})
}

// Config is the redis type's keys: rule outputs written to Redis with one
// command per record, one pipeline per batch (docs/bridges.md).
type Config struct {
	Redis Settings `yaml:"redis"`
}

// Settings is the redis section. Templates name event fields as ${field}
// or ${payload.path}.
type Settings struct {
	// Deployment is standalone, sentinel or cluster.
	Deployment string `yaml:"deployment"`
	// Addresses are host:port of the server (standalone), the sentinels
	// (sentinel) or seed nodes (cluster).
	Addresses []string `yaml:"addresses"`
	// MasterName is the master's name in the sentinels (sentinel).
	MasterName string `yaml:"master_name"`
	// Username and Password authenticate (AUTH; ACL user or "default").
	Username string        `yaml:"username"`
	Password config.Secret `yaml:"password"`
	// SentinelUsername and SentinelPassword authenticate to the sentinels.
	SentinelUsername string        `yaml:"sentinel_username"`
	SentinelPassword config.Secret `yaml:"sentinel_password"`
	// DB is the database number (standalone and sentinel).
	DB int `yaml:"db"`
	// PoolSize bounds the connections per server.
	PoolSize int `yaml:"pool_size"`
	// DialTimeout bounds a connection attempt.
	DialTimeout config.Duration `yaml:"dial_timeout"`
	// Command is publish, xadd, hset or set.
	Command string `yaml:"command"`
	// Channel is the channel template (publish).
	Channel string `yaml:"channel"`
	// Stream is the stream template (xadd).
	Stream string `yaml:"stream"`
	// Key is the key template (hset, set).
	Key string `yaml:"key"`
	// Value is the message (publish) or value (set) template, and the
	// JSON object whose top-level fields become the fields (hset, xadd);
	// "": the rule output as JSON.
	Value string `yaml:"value"`
	// Fields are field templates (hset, xadd) used instead of the
	// top-level fields of the value.
	Fields []bridge.KeyValue `yaml:"fields"`
	// TTL expires the key after each write (hset, set; 0: never).
	TTL config.Duration `yaml:"ttl"`
	// MaxLen trims the stream to about this many entries (xadd; 0: no
	// trimming).
	MaxLen int `yaml:"maxlen"`
}

// NewConfig returns the redis defaults.
func NewConfig() *Config {
	return &Config{Redis: Settings{Deployment: Standalone, PoolSize: 10, DialTimeout: config.Duration(5 * time.Second),
		Command: HSet}}
}

// Target returns the destination template of the command and its key
// (channel, stream or key); name is "" for an unknown command.
func (r *Settings) Target() (tpl, name string) {
	switch r.Command {
	case Publish:
		return r.Channel, "channel"
	case XAdd:
		return r.Stream, "stream"
	case HSet, Set:
		return r.Key, "key"
	}
	return "", ""
}

// Validate implements bridge.Config.
func (c *Config) Validate() error {
	var v config.Checker
	r := &c.Redis
	v.OneOf("redis.deployment", r.Deployment, Standalone, Sentinel, Cluster)
	if len(r.Addresses) == 0 {
		v.Bad("redis.addresses", "required")
	}
	for j, s := range r.Addresses {
		v.Address("redis.addresses."+strconv.Itoa(j), s)
	}
	if r.Deployment == Sentinel && r.MasterName == "" {
		v.Bad("redis.master_name", "required with deployment sentinel")
	}
	if r.Deployment == Standalone && len(r.Addresses) > 1 {
		v.Bad("redis.addresses", "one address with deployment standalone")
	}
	v.Between("redis.db", r.DB, 0, 1<<16)
	v.Between("redis.pool_size", r.PoolSize, 1, 10000)
	v.Duration("redis.dial_timeout", r.DialTimeout, 10*time.Millisecond, 0)
	v.OneOf("redis.command", r.Command, Publish, XAdd, HSet, Set)
	if t, name := r.Target(); t == "" && name != "" {
		v.Bad("redis."+name, "required with command %s", r.Command)
	}
	for j, f := range r.Fields {
		if f.Key == "" {
			v.Bad("redis.fields."+strconv.Itoa(j)+".key", "required")
		}
	}
	if len(r.Fields) > 0 && r.Command != HSet && r.Command != XAdd {
		v.Bad("redis.fields", "only with command hset or xadd")
	}
	v.Duration("redis.ttl", r.TTL, 0, 0)
	if r.TTL > 0 && r.TTL.D() < time.Millisecond {
		v.Bad("redis.ttl", "%s is below 1ms", r.TTL.D())
	}
	if r.MaxLen < 0 {
		v.Bad("redis.maxlen", "%d must not be negative", r.MaxLen)
	}
	return v.Err()
}

// Build implements bridge.Config: a Sink (not connected) and the record
// templates: the channel, stream or key as Topic, the value, the field
// templates as headers.
func (c *Config) Build(bc bridge.BuildContext) (*bridge.Parts, error) {
	r := c.Redis
	o := Options{Deployment: r.Deployment, Addresses: r.Addresses, MasterName: r.MasterName,
		Username: r.Username, Password: string(r.Password), SentinelUsername: r.SentinelUsername,
		SentinelPassword: string(r.SentinelPassword), DB: r.DB, PoolSize: r.PoolSize,
		DialTimeout: r.DialTimeout.D(), Command: r.Command, FieldsFromHeaders: len(r.Fields) > 0,
		TTL: r.TTL.D(), MaxLen: int64(r.MaxLen), Logger: bc.Logger}
	if bc.TLSEnabled {
		o.TLS = bc.TLS
	}
	s, err := New(o)
	if err != nil {
		return nil, err
	}
	target, name := r.Target()
	command, fromHeaders := r.Command, o.FieldsFromHeaders
	return &bridge.Parts{Sink: s, Templates: bridge.Templates{
		Topic: bridge.TemplateSpec{Key: "redis." + name, Text: target}, Value: bridge.TemplateSpec{Key: "redis.value", Text: r.Value},
		HeadersKey: "redis.fields", Headers: r.Fields,
		Check: func(rec *bridge.Record) error { return CheckRecord(command, fromHeaders, rec) }}}, nil
}

const example = `redis:
  deployment: standalone # standalone, sentinel or cluster
  addresses: [] # host:port of the server, the sentinels or cluster nodes (required)
  master_name: "" # the master's name in the sentinels (sentinel)
  username: "" # AUTH user ("": default)
  password: "" # AUTH password
  sentinel_username: "" # user on the sentinels
  sentinel_password: "" # password on the sentinels
  db: 0 # database number (not with cluster)
  pool_size: 10 # connections per server
  dial_timeout: 5s # bound on a connection attempt
  command: hset # publish, xadd, hset or set (one pipeline per batch)
  channel: "" # channel template (publish)
  stream: "" # stream template (xadd)
  key: device:${clientid} # key template (hset, set)
  value: "" # message (publish), value (set) or JSON object of the fields (hset, xadd) ("": the rule output)
  fields:
    - key: battery # hash or stream field (hset, xadd; instead of the value's top-level fields)
      value: ${payload.battery} # field value template
  ttl: 0s # expire the key after each write (hset, set; 0s: never)
  maxlen: 0 # trim the stream to about this many entries (xadd; 0: never)
`

var _ bridge.Config = (*Config)(nil)
