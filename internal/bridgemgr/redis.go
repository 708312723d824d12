package bridgemgr

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"

	"github.com/iothub-dev/iothub/bridge"
	"github.com/iothub-dev/iothub/bridge/redis"
	"github.com/iothub-dev/iothub/config"
)

// redisSink returns a redis bridge's record templates (the channel,
// stream or key as Topic; the value; the field templates as headers) and
// the sink's options.
func redisSink(def *config.Bridge, log *slog.Logger) (sinkTemplates, redis.Options, error) {
	rc := def.Redis
	o := redis.Options{Deployment: rc.Deployment, Addresses: rc.Addresses, MasterName: rc.MasterName,
		Username: rc.Username, Password: string(rc.Password), SentinelUsername: rc.SentinelUsername,
		SentinelPassword: string(rc.SentinelPassword), DB: rc.DB, PoolSize: rc.PoolSize,
		DialTimeout: rc.DialTimeout.D(), Command: rc.Command, FieldsFromHeaders: len(rc.Fields) > 0,
		TTL: rc.TTL.D(), MaxLen: int64(rc.MaxLen), Logger: log}
	tc, err := tlsSettings("redis.tls", rc.TLS)
	if err != nil {
		return sinkTemplates{}, o, err
	}
	if rc.TLS.Enabled {
		o.TLS = tc
	}
	target, name := rc.Target()
	command, fromHeaders := rc.Command, o.FieldsFromHeaders
	return sinkTemplates{topic: keyed{"redis." + name, target}, value: keyed{"redis.value", rc.Value},
		headersKey: "redis.fields", headers: rc.Fields,
		check: func(r *bridge.Record) error { return redis.CheckRecord(command, fromHeaders, r) }}, o, nil
}

// tlsSettings loads the files of a bridge's tls section (key names it in
// errors); the result is used when the section is enabled (or the URL
// scheme asks for TLS).
func tlsSettings(key string, t config.KafkaTLS) (*tls.Config, error) {
	tc := &tls.Config{ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // an explicit, documented test setting
		MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%s.ca_file: %w", key, err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s.ca_file: no PEM certificate in %s", key, t.CAFile)
		}
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%s.cert_file: %w", key, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// checkRedis parses a redis bridge's templates and options.
func checkRedis(def *config.Bridge) error {
	tpl, o, err := redisSink(def, nil)
	if err != nil {
		return err
	}
	if _, err := newSinkMapping(tpl); err != nil {
		return err
	}
	s, err := redis.New(o)
	if err != nil {
		return err
	}
	return s.Close()
}

// startRedis starts a redis bridge.
func (m *Manager) startRedis(def *config.Bridge, log *slog.Logger) (*running, error) {
	tpl, o, err := redisSink(def, log)
	if err != nil {
		return nil, err
	}
	mp, err := newSinkMapping(tpl)
	if err != nil {
		return nil, err
	}
	s, err := redis.New(o)
	if err != nil {
		return nil, err
	}
	return m.startSink(def, s, mp)
}
