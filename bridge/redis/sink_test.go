package redis_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strconv"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/bridge"
	"github.com/iothub-dev/iothub/bridge/redis"
	"github.com/iothub-dev/iothub/internal/testutil"
)

func client(t *testing.T, addr string, opts ...func(*goredis.Options)) *goredis.Client {
	t.Helper()
	o := &goredis.Options{Addr: addr}
	for _, f := range opts {
		f(o)
	}
	c := goredis.NewClient(o)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func newSink(t *testing.T, o redis.Options) *redis.Sink {
	t.Helper()
	o.Logger = testutil.Logger(t)
	s, err := redis.New(o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

const lockState = `{"process_id":"7802441525528958","action":"unlock","battery":83.4,"lock_state":1,"version":1.1,"client_id":"10083618796833171"}`

// TestSink_commands writes with each command and reads back with go-redis.
func TestSink_commands(t *testing.T) {
	srv := testutil.StartRedis(t)
	rc := client(t, srv.Addr)
	ctx := context.Background()
	recs := []bridge.Record{
		{Topic: "device:1", Value: []byte(lockState)},
		{Topic: "device:2", Value: []byte(`{"battery":12,"nested":{"a":[1,2]},"ok":true,"none":null}`)},
	}
	tests := []struct {
		name  string
		o     redis.Options
		recs  []bridge.Record
		check func(t *testing.T)
	}{
		{"hset from the JSON value, with a TTL", redis.Options{Command: redis.HSet, TTL: time.Hour}, recs, func(t *testing.T) {
			got, err := rc.HGetAll(ctx, "device:1").Result()
			require.NoError(t, err)
			require.Equal(t, map[string]string{"process_id": "7802441525528958", "action": "unlock", "battery": "83.4",
				"lock_state": "1", "version": "1.1", "client_id": "10083618796833171"}, got)
			got, err = rc.HGetAll(ctx, "device:2").Result()
			require.NoError(t, err)
			require.Equal(t, map[string]string{"battery": "12", "nested": `{"a":[1,2]}`, "ok": "true", "none": "null"}, got)
			ttl, err := rc.PTTL(ctx, "device:1").Result()
			require.NoError(t, err)
			require.Greater(t, ttl, 59*time.Minute)
		}},
		{"hset from field templates", redis.Options{Command: redis.HSet, FieldsFromHeaders: true},
			[]bridge.Record{{Topic: "lock:1", Value: []byte("ignored"), Headers: []bridge.Header{{Key: "battery", Value: []byte("83.4")}, {Key: "state", Value: []byte("1")}}}},
			func(t *testing.T) {
				got, err := rc.HGetAll(ctx, "lock:1").Result()
				require.NoError(t, err)
				require.Equal(t, map[string]string{"battery": "83.4", "state": "1"}, got)
				ttl, err := rc.TTL(ctx, "lock:1").Result()
				require.NoError(t, err)
				require.Equal(t, time.Duration(-1), ttl, "no TTL: the key does not expire")
			}},
		{"set with a TTL", redis.Options{Command: redis.Set, TTL: 90 * time.Second}, []bridge.Record{{Topic: "last:1", Value: []byte(lockState)}}, func(t *testing.T) {
			got, err := rc.Get(ctx, "last:1").Result()
			require.NoError(t, err)
			require.Equal(t, lockState, got)
			ttl, err := rc.TTL(ctx, "last:1").Result()
			require.NoError(t, err)
			require.Greater(t, ttl, 80*time.Second)
		}},
		{"xadd with MAXLEN ~", redis.Options{Command: redis.XAdd, MaxLen: 1000}, recs[:1], func(t *testing.T) {
			got, err := rc.XRange(ctx, "device:1:stream", "-", "+").Result()
			require.NoError(t, err)
			require.Len(t, got, 1)
			require.Equal(t, "83.4", got[0].Values["battery"])
			require.Equal(t, "unlock", got[0].Values["action"])
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Addresses = []string{srv.Addr}
			s := newSink(t, tc.o)
			recs := tc.recs
			if tc.o.Command == redis.XAdd {
				recs = []bridge.Record{{Topic: "device:1:stream", Value: recs[0].Value}}
			}
			require.NoError(t, s.Health(ctx))
			require.NoError(t, s.Send(ctx, recs))
			tc.check(t)
		})
	}
}

// TestSink_publish: a subscriber receives the records in order.
func TestSink_publish(t *testing.T) {
	srv := testutil.StartRedis(t)
	rc := client(t, srv.Addr)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ps := rc.Subscribe(ctx, "locks")
	defer ps.Close()
	_, err := ps.Receive(ctx) // the subscription confirmation
	require.NoError(t, err)
	s := newSink(t, redis.Options{Addresses: []string{srv.Addr}, Command: redis.Publish})
	var recs []bridge.Record
	for i := range 20 {
		recs = append(recs, bridge.Record{Topic: "locks", Value: []byte(strconv.Itoa(i))})
	}
	require.NoError(t, s.Send(ctx, recs))
	for i := range 20 {
		m, err := ps.ReceiveMessage(ctx)
		require.NoError(t, err)
		require.Equal(t, strconv.Itoa(i), m.Payload)
	}
}

// TestSink_errors: WRONGTYPE is permanent, a server that is down is
// retryable, a record without fields is refused at enqueue.
func TestSink_errors(t *testing.T) {
	srv := testutil.StartRedis(t)
	rc := client(t, srv.Addr)
	ctx := context.Background()
	require.NoError(t, rc.Set(ctx, "device:1", "a string", 0).Err())
	s := newSink(t, redis.Options{Addresses: []string{srv.Addr}, Command: redis.HSet})
	err := s.Send(ctx, []bridge.Record{{Topic: "device:2", Value: []byte(`{"a":1}`)}, {Topic: "device:1", Value: []byte(lockState)}})
	var be *bridge.BatchError
	require.ErrorAs(t, err, &be)
	require.Len(t, be.Errs, 2)
	require.NoError(t, be.Errs[0], "the first record was written")
	require.True(t, bridge.IsPermanent(be.Errs[1]), "%v", be.Errs[1])
	require.Contains(t, be.Errs[1].Error(), "WRONGTYPE")
	require.Equal(t, "1", rc.HGet(ctx, "device:2", "a").Val(), "the other commands of the pipeline ran")

	require.Error(t, redis.CheckRecord(redis.HSet, false, &bridge.Record{Topic: "k", Value: []byte(`[1]`)}))
	require.Error(t, redis.CheckRecord(redis.XAdd, false, &bridge.Record{Topic: "k", Value: []byte(`{}`)}))
	require.Error(t, redis.CheckRecord(redis.Set, false, &bridge.Record{Value: []byte(`x`)}))
	require.NoError(t, redis.CheckRecord(redis.Set, false, &bridge.Record{Topic: "k", Value: []byte(`x`)}))

	srv.Stop()
	err = s.Send(ctx, []bridge.Record{{Topic: "device:3", Value: []byte(`{"a":1}`)}})
	require.Error(t, err)
	require.False(t, bridge.IsPermanent(err), "%v", err)
	require.Error(t, s.Health(ctx))
}

// TestSink_auth: AUTH with an ACL user; a wrong password is an error.
func TestSink_auth(t *testing.T) {
	srv := testutil.StartRedis(t, "--user", "iothub", "on", ">s3cret", "~device:*", "+@all")
	ctx := context.Background()
	bad := newSink(t, redis.Options{Addresses: []string{srv.Addr}, Command: redis.Set, Username: "iothub", Password: "wrong"})
	require.Error(t, bad.Health(ctx))
	s := newSink(t, redis.Options{Addresses: []string{srv.Addr}, Command: redis.Set, Username: "iothub", Password: "s3cret"})
	require.NoError(t, s.Health(ctx))
	require.NoError(t, s.Send(ctx, []bridge.Record{{Topic: "device:1", Value: []byte("v")}}))
	rc := client(t, srv.Addr, func(o *goredis.Options) { o.Username, o.Password = "iothub", "s3cret" })
	require.Equal(t, "v", rc.Get(ctx, "device:1").Val())
}

// TestSink_restart: records flow through a bridge.Runner; the server is
// killed mid-stream and started again on the same port: every record
// arrives, in order (XADD entries are kept in arrival order).
func TestSink_restart(t *testing.T) {
	srv := testutil.StartRedis(t)
	rc := client(t, srv.Addr)
	ctx := context.Background()
	s := newSink(t, redis.Options{Addresses: []string{srv.Addr}, Command: redis.XAdd})
	r, err := bridge.NewRunner(s, bridge.Options{Name: "redis-test", Dir: t.TempDir(), Logger: testutil.Logger(t),
		BatchSize: 50, SendTimeout: 5 * time.Second, RetryMin: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond})
	require.NoError(t, err)
	r.Start()
	defer func() { _ = r.Close(ctx) }()
	rec := func(i int) bridge.Record {
		return bridge.Record{Topic: "seq", Value: fmt.Appendf(nil, `{"i":%d}`, i)}
	}
	const half, total = 300, 600
	for i := range half {
		require.NoError(t, r.Enqueue(rec(i)))
	}
	testutil.Eventually(t, 60*time.Second, func() bool { return r.Metrics().Sent == half }, "first half sent")
	entries, err := rc.XRange(ctx, "seq", "-", "+").Result()
	require.NoError(t, err)
	require.Len(t, entries, half)
	srv.Stop() // no persistence: the restarted server is empty
	for i := half; i < total; i++ {
		require.NoError(t, r.Enqueue(rec(i)))
	}
	testutil.Eventually(t, 60*time.Second, func() bool { return r.Metrics().Retried > 0 }, "a send failed while Redis was down")
	srv.Start()
	testutil.Eventually(t, 60*time.Second, func() bool { return r.Metrics().Sent >= total }, "second half sent after the restart")
	entries, err = rc.XRange(ctx, "seq", "-", "+").Result()
	require.NoError(t, err)
	// At least once: a batch may repeat, but nothing is lost and the first
	// occurrences are in order.
	next := half
	for _, e := range entries {
		i, err := strconv.Atoi(e.Values["i"].(string))
		require.NoError(t, err)
		if i == next {
			next++
		} else {
			require.Less(t, i, next, "record %d arrived before %d", i, next)
		}
	}
	require.Equal(t, total, next, "every record after the restart arrived, in order")
	m := r.Metrics()
	require.Zero(t, m.Queued)
	require.Empty(t, m.Dropped)
}

// TestSink_tls: a TLS-only server, the CA trusted by the sink; a sink
// that does not trust it fails.
func TestSink_tls(t *testing.T) {
	ca := testutil.NewCA(t, "redis-ca")
	srv := testutil.StartRedisTLS(t, ca)
	ctx := context.Background()
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	s := newSink(t, redis.Options{Addresses: []string{srv.Addr}, Command: redis.Set,
		TLS: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}})
	require.NoError(t, s.Health(ctx))
	require.NoError(t, s.Send(ctx, []bridge.Record{{Topic: "device:1", Value: []byte("over tls")}}))
	untrusted := newSink(t, redis.Options{Addresses: []string{srv.Addr}, Command: redis.Set,
		TLS: &tls.Config{MinVersion: tls.VersionTLS12}})
	require.Error(t, untrusted.Health(ctx))
	rc := client(t, srv.Addr, func(o *goredis.Options) { o.TLSConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12} })
	require.Equal(t, "over tls", rc.Get(ctx, "device:1").Val())
}

// TestSink_deployments: a Sentinel-managed master (the sink asks the
// sentinel for the master) and a three-node Cluster (keys spread over the
// slots of every node, one pipeline per batch).
func TestSink_deployments(t *testing.T) {
	ctx := context.Background()
	t.Run("sentinel", func(t *testing.T) {
		master := testutil.StartRedis(t)
		sentinel := testutil.StartRedisSentinel(t, master, "locks")
		s := newSink(t, redis.Options{Deployment: redis.Sentinel, Addresses: []string{sentinel.Addr}, MasterName: "locks",
			Command: redis.HSet})
		require.NoError(t, s.Health(ctx))
		require.NoError(t, s.Send(ctx, []bridge.Record{{Topic: "device:1", Value: []byte(lockState)}}))
		require.Equal(t, "83.4", client(t, master.Addr).HGet(ctx, "device:1", "battery").Val())
	})
	t.Run("cluster", func(t *testing.T) {
		nodes := testutil.StartRedisCluster(t, 3)
		s := newSink(t, redis.Options{Deployment: redis.Cluster, Addresses: []string{nodes[0].Addr}, Command: redis.Set})
		require.NoError(t, s.Health(ctx))
		var recs []bridge.Record
		for i := range 100 {
			recs = append(recs, bridge.Record{Topic: "device:" + strconv.Itoa(i), Value: []byte(strconv.Itoa(i))})
		}
		require.NoError(t, s.Send(ctx, recs))
		cc := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: []string{nodes[1].Addr}})
		defer cc.Close()
		for i := range 100 {
			require.Equal(t, strconv.Itoa(i), cc.Get(ctx, "device:"+strconv.Itoa(i)).Val())
		}
		perNode := 0
		for _, n := range nodes {
			if client(t, n.Addr).DBSize(ctx).Val() > 0 {
				perNode++
			}
		}
		require.Equal(t, 3, perNode, "the keys are spread over every node")
	})
}

// TestSink_xaddTrims: MAXLEN ~ keeps the stream near maxlen (Redis trims
// whole macro nodes, so at least maxlen entries stay).
func TestSink_xaddTrims(t *testing.T) {
	srv := testutil.StartRedis(t)
	ctx := context.Background()
	s := newSink(t, redis.Options{Addresses: []string{srv.Addr}, Command: redis.XAdd, MaxLen: 10})
	var recs []bridge.Record
	for i := range 1000 {
		recs = append(recs, bridge.Record{Topic: "s", Value: fmt.Appendf(nil, `{"i":%d}`, i)})
	}
	require.NoError(t, s.Send(ctx, recs))
	n := client(t, srv.Addr).XLen(ctx, "s").Val()
	require.GreaterOrEqual(t, n, int64(10))
	require.Less(t, n, int64(1000))
}
