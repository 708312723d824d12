package postgres_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/bridge"
	"github.com/iothub-dev/iothub/bridge/postgres"
	"github.com/iothub-dev/iothub/bridge/postgres/pgtest"
)

func ctx30(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newSink(t *testing.T, o postgres.Options) *postgres.Sink {
	t.Helper()
	o.Logger = slog.New(slog.DiscardHandler)
	s, err := postgres.New(o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func rec(values ...string) bridge.Record {
	r := bridge.Record{Topic: "postgres"}
	for _, v := range values {
		r.Headers = append(r.Headers, bridge.Header{Value: []byte(v)})
	}
	return r
}

// TestSink_statement: a batch is inserted in order with the values bound
// as parameters: quotes and SQL fragments are stored verbatim; errors are
// classified (constraint, syntax: permanent; server down: retryable).
func TestSink_statement(t *testing.T) {
	pg := pgtest.Start(t)
	db := pg.Conn(t)
	ctx := ctx30(t)
	_, err := db.Exec(ctx, `CREATE TABLE t (n serial PRIMARY KEY, device text NOT NULL, ts bigint, payload text, CHECK (device <> 'bad'))`)
	require.NoError(t, err)
	st, err := postgres.ParseStatement("INSERT INTO t (device, ts, payload) VALUES (${clientid}, ${timestamp}, ${payload})")
	require.NoError(t, err)
	s := newSink(t, postgres.Options{URL: pg.URL, Statement: st, PoolSize: 2})

	evil := `'); DROP TABLE t; -- "quoted" \ $1 ${payload}`
	require.NoError(t, s.Send(ctx, []bridge.Record{rec("lock-1", "1712000000000", evil), rec("lock-2", "1712000000001", `{"locked":true}`)}))
	rows, err := db.Query(ctx, "SELECT device, ts, payload FROM t ORDER BY n")
	require.NoError(t, err)
	type row struct {
		Device  string
		TS      int64
		Payload string
	}
	var got []row
	for rows.Next() {
		var r row
		require.NoError(t, rows.Scan(&r.Device, &r.TS, &r.Payload))
		got = append(got, r)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []row{{"lock-1", 1712000000000, evil}, {"lock-2", 1712000000001, `{"locked":true}`}}, got)

	// A record refused by a constraint is refused alone; the others land.
	err = s.Send(ctx, []bridge.Record{rec("lock-3", "1", "a"), rec("bad", "2", "b"), rec("lock-4", "3", "c")})
	var be *bridge.BatchError
	require.ErrorAs(t, err, &be)
	require.NoError(t, be.Errs[0])
	require.True(t, bridge.IsPermanent(be.Errs[1]), "%v", be.Errs[1])
	require.NoError(t, be.Errs[2])
	var n int
	require.NoError(t, db.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n))
	require.Equal(t, 4, n)

	for name, recs := range map[string][]bridge.Record{
		"constraint (23)": {rec("bad", "1", "x")},
		"data (22)":       {rec("lock-5", "not a number", "x")},
	} {
		err := s.Send(ctx, recs)
		require.Error(t, err, name)
		require.True(t, bridge.IsPermanent(err), "%s: %v", name, err)
	}
	st2, err := postgres.ParseStatement("INSERT INTO missing (a) VALUES (${clientid})")
	require.NoError(t, err)
	s2 := newSink(t, postgres.Options{URL: pg.URL, Statement: st2})
	err = s2.Send(ctx, []bridge.Record{rec("x")})
	require.Error(t, err)
	require.False(t, bridge.IsPermanent(err), "an undefined table (42P01) is waited for: %v", err)

	pg.Stop()
	err = s.Send(ctx, []bridge.Record{rec("lock-6", "1", "x")})
	require.Error(t, err)
	require.False(t, bridge.IsPermanent(err), "server down must be retryable: %v", err)
	require.Error(t, s.Health(ctx))
	pg.Restart(t)
	require.Eventually(t, func() bool { return s.Send(ctx30(t), []bridge.Record{rec("lock-6", "1", "x")}) == nil },
		30*time.Second, 100*time.Millisecond)
}

// TestSink_table: the ready-made table is created (twice is harmless) and
// stores JSON payloads as JSON and other payloads as JSON strings.
func TestSink_table(t *testing.T) {
	pg := pgtest.Start(t)
	db := pg.Conn(t)
	ctx := ctx30(t)
	s := newSink(t, postgres.Options{URL: pg.URL, Table: "iothub_messages", CreateTable: true})
	at := time.UnixMilli(1712000000123).UTC()
	recs := []bridge.Record{
		{Topic: "locks/lock-1/state", Key: []byte("lock-1"), Value: []byte(`{"locked":true,"battery":87}`), Time: at},
		{Topic: "locks/lock-1/raw", Key: []byte("lock-1"), Value: []byte(`'); DROP TABLE iothub_messages; --`), Time: at},
	}
	require.NoError(t, s.Send(ctx, recs))
	require.NoError(t, postgres.CreateTable(ctx, db, "iothub_messages", slog.New(slog.DiscardHandler)))
	rows, err := db.Query(ctx, "SELECT device, topic, ts, payload::text FROM iothub_messages ORDER BY topic DESC")
	require.NoError(t, err)
	var got [][4]any
	for rows.Next() {
		var dev, topic, payload string
		var ts time.Time
		require.NoError(t, rows.Scan(&dev, &topic, &ts, &payload))
		got = append(got, [4]any{dev, topic, ts.UTC(), payload})
	}
	require.NoError(t, rows.Err())
	raw, _ := json.Marshal(`'); DROP TABLE iothub_messages; --`)
	require.Equal(t, [][4]any{
		{"lock-1", "locks/lock-1/state", at, `{"locked": true, "battery": 87}`},
		{"lock-1", "locks/lock-1/raw", at, string(raw)},
	}, got)
}
