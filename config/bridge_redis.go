package config

import (
	"strconv"
	"time"
)

// Redis commands of a redis bridge.
const (
	// RedisPublish publishes each record on a channel (PUBLISH).
	RedisPublish = "publish"
	// RedisXAdd appends each record to a stream (XADD … MAXLEN ~ n).
	RedisXAdd = "xadd"
	// RedisHSet writes each record's fields into a hash (HSET, EXPIRE).
	RedisHSet = "hset"
	// RedisSet sets a key to each record's value (SET … EX).
	RedisSet = "set"
)

// RedisBridge is the redis bridge: rule outputs written to Redis with one
// command per record, one pipeline per batch (docs/bridges.md). Templates
// name event fields as ${field} or ${payload.path}.
type RedisBridge struct {
	// Deployment is standalone, sentinel or cluster.
	Deployment string `yaml:"deployment" json:"deployment"`
	// Addresses are host:port of the server (standalone), the sentinels
	// (sentinel) or seed nodes (cluster).
	Addresses []string `yaml:"addresses" json:"addresses"`
	// MasterName is the master's name in the sentinels (sentinel).
	MasterName string `yaml:"master_name" json:"master_name"`
	// Username and Password authenticate (AUTH; ACL user or "default").
	Username string `yaml:"username" json:"username"`
	Password Secret `yaml:"password" json:"password"`
	// SentinelUsername and SentinelPassword authenticate to the sentinels.
	SentinelUsername string `yaml:"sentinel_username" json:"sentinel_username"`
	SentinelPassword Secret `yaml:"sentinel_password" json:"sentinel_password"`
	// DB is the database number (standalone and sentinel).
	DB int `yaml:"db" json:"db"`
	// TLS encrypts the connections.
	TLS KafkaTLS `yaml:"tls" json:"tls"`
	// PoolSize bounds the connections per server.
	PoolSize int `yaml:"pool_size" json:"pool_size"`
	// DialTimeout bounds a connection attempt.
	DialTimeout Duration `yaml:"dial_timeout" json:"dial_timeout"`
	// Command is publish, xadd, hset or set.
	Command string `yaml:"command" json:"command"`
	// Channel is the channel template (publish).
	Channel string `yaml:"channel" json:"channel"`
	// Stream is the stream template (xadd).
	Stream string `yaml:"stream" json:"stream"`
	// Key is the key template (hset, set).
	Key string `yaml:"key" json:"key"`
	// Value is the message (publish) or value (set) template, and the
	// JSON object whose top-level fields become the fields (hset, xadd);
	// "": the rule output as JSON.
	Value string `yaml:"value" json:"value"`
	// Fields are field templates (hset, xadd) used instead of the
	// top-level fields of the value.
	Fields []KafkaHeader `yaml:"fields" json:"fields"`
	// TTL expires the key after each write (hset, set; 0: never).
	TTL Duration `yaml:"ttl" json:"ttl"`
	// MaxLen trims the stream to about this many entries (xadd; 0: no
	// trimming).
	MaxLen int `yaml:"maxlen" json:"maxlen"`
}

func defaultRedisBridge() RedisBridge {
	return RedisBridge{Deployment: "standalone", PoolSize: 10, DialTimeout: Duration(5 * time.Second),
		Command: RedisHSet}
}

func (r *RedisBridge) validate(key string, v *checker) {
	v.oneOf(join(key, "redis.deployment"), r.Deployment, "standalone", "sentinel", "cluster")
	if len(r.Addresses) == 0 {
		v.bad(join(key, "redis.addresses"), "required")
	}
	for j, s := range r.Addresses {
		v.address(join(key, "redis.addresses.")+strconv.Itoa(j), s)
	}
	if r.Deployment == "sentinel" && r.MasterName == "" {
		v.bad(join(key, "redis.master_name"), "required with deployment sentinel")
	}
	if r.Deployment == "standalone" && len(r.Addresses) > 1 {
		v.bad(join(key, "redis.addresses"), "one address with deployment standalone")
	}
	v.between(join(key, "redis.db"), r.DB, 0, 1<<16)
	v.file(join(key, "redis.tls.ca_file"), r.TLS.CAFile, false)
	if (r.TLS.CertFile == "") != (r.TLS.KeyFile == "") {
		v.bad(join(key, "redis.tls.cert_file"), "cert_file and key_file go together")
	}
	v.between(join(key, "redis.pool_size"), r.PoolSize, 1, 10000)
	v.duration(join(key, "redis.dial_timeout"), r.DialTimeout, 10*time.Millisecond, 0)
	v.oneOf(join(key, "redis.command"), r.Command, RedisPublish, RedisXAdd, RedisHSet, RedisSet)
	if t, name := r.Target(); t == "" && name != "" {
		v.bad(join(key, "redis."+name), "required with command %s", r.Command)
	}
	for j, f := range r.Fields {
		if f.Key == "" {
			v.bad(join(key, "redis.fields.")+strconv.Itoa(j)+".key", "required")
		}
	}
	if len(r.Fields) > 0 && r.Command != RedisHSet && r.Command != RedisXAdd {
		v.bad(join(key, "redis.fields"), "only with command hset or xadd")
	}
	v.duration(join(key, "redis.ttl"), r.TTL, 0, 0)
	if r.TTL > 0 && r.TTL.D() < time.Millisecond {
		v.bad(join(key, "redis.ttl"), "%s is below 1ms", r.TTL.D())
	}
	if r.MaxLen < 0 {
		v.bad(join(key, "redis.maxlen"), "%d must not be negative", r.MaxLen)
	}
}

// Target returns the destination template of the command and its key
// (channel, stream or key); name is "" for an unknown command.
func (r *RedisBridge) Target() (tpl, name string) {
	switch r.Command {
	case RedisPublish:
		return r.Channel, "channel"
	case RedisXAdd:
		return r.Stream, "stream"
	case RedisHSet, RedisSet:
		return r.Key, "key"
	}
	return "", ""
}
