package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/iothub-dev/iothub/bridge"
)

// Options configure a Sink.
type Options struct {
	// URL is the connection string (URL or key=value form).
	URL string
	// Password, when set, replaces the URL's password.
	Password string
	// Statement is the parsed INSERT; nil inserts into Table.
	Statement *Statement
	// Table is the ready-made table (used when Statement is nil).
	Table string
	// CreateTable creates Table when missing.
	CreateTable bool
	// PoolSize bounds the pool's connections (default 4).
	PoolSize int
	// ConnectTimeout bounds a connection attempt (default 10s).
	ConnectTimeout time.Duration
	// Logger receives the sink's logs (default slog.Default()).
	Logger *slog.Logger
}

// Sink is a bridge.Sink writing records as rows.
type Sink struct {
	o     Options
	pool  *pgxpool.Pool
	log   *slog.Logger
	sql   string
	ready bool // the table exists (CreateTable)
}

// New checks o and returns a sink. It does not connect: the pool dials on
// first use, and an unreachable server shows in the bridge status.
func New(o Options) (*Sink, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.PoolSize <= 0 {
		o.PoolSize = 4
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	cfg, err := pgxpool.ParseConfig(o.URL)
	if err != nil {
		return nil, fmt.Errorf("postgres: url: %w", redactURL(err))
	}
	if o.Password != "" {
		cfg.ConnConfig.Password = o.Password
	}
	cfg.MaxConns = int32(min(o.PoolSize, 1000)) //nolint:gosec // bounded above
	cfg.ConnConfig.ConnectTimeout = o.ConnectTimeout
	s := &Sink{o: o, log: o.Logger}
	switch {
	case o.Statement != nil:
		s.sql = o.Statement.SQL
	case o.Table != "":
		s.sql = "INSERT INTO " + tableIdent(o.Table) + " (device, topic, ts, payload) VALUES ($1, $2, $3, $4::jsonb)"
	default:
		return nil, errors.New("postgres: a statement or a table is required")
	}
	if s.pool, err = pgxpool.NewWithConfig(context.Background(), cfg); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return s, nil
}

// redactURL drops the text of a connection string parse error, which may
// quote the password.
func redactURL(err error) error {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		return fmt.Errorf("cannot parse the connection string: %s", pe.Unwrap()) //nolint:errorlint // not wrapped: the chain holds the password
	}
	return err
}

// Send writes recs in one transaction, as one batch. When the batch is
// refused for one record's data (SQLSTATE class 22 or 23) it is written
// again one record per transaction, and each record's fate is returned
// (*bridge.BatchError): the refused ones are permanent, the others were
// written.
func (s *Sink) Send(ctx context.Context, recs []bridge.Record) error {
	if err := s.prepare(ctx); err != nil {
		return err
	}
	err := s.send(ctx, recs)
	if err == nil || len(recs) == 1 || !isDataError(err) {
		return classify(err)
	}
	errs := make([]error, len(recs))
	refused := 0
	for i := range recs {
		err := s.send(ctx, recs[i:i+1])
		if err != nil && !isDataError(err) { // the server went away: these and the rest again
			for j := i; j < len(recs); j++ {
				errs[j] = classify(err)
			}
			break
		}
		if err != nil {
			refused++
		}
		errs[i] = classify(err)
	}
	s.log.Debug("postgres: records refused", "refused", refused, "of", len(recs))
	return &bridge.BatchError{Errs: errs}
}

func (s *Sink) send(ctx context.Context, recs []bridge.Record) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for i := range recs {
			b.Queue(s.sql, s.args(&recs[i])...)
		}
		return tx.SendBatch(ctx, b).Close()
	})
}

// args are the parameters of one record: its headers in order (a
// statement), or device, topic, time and JSON payload (the table).
func (s *Sink) args(r *bridge.Record) []any {
	if s.o.Statement != nil {
		args := make([]any, len(s.o.Statement.Names))
		for i := range args {
			if i < len(r.Headers) {
				args[i] = string(r.Headers[i].Value)
			}
		}
		return args
	}
	return []any{string(r.Key), r.Topic, r.Time, jsonPayload(r.Value)}
}

// jsonPayload is p when it is JSON, else p as a JSON string.
func jsonPayload(p []byte) string {
	if json.Valid(p) {
		return string(p)
	}
	b, _ := json.Marshal(string(p)) // a string always marshals
	return string(b)
}

// prepare creates the ready-made table once, when asked to.
func (s *Sink) prepare(ctx context.Context) error {
	if !s.o.CreateTable || s.ready {
		return nil
	}
	if err := CreateTable(ctx, s.pool, s.o.Table, s.log); err != nil {
		return classify(err)
	}
	s.ready = true
	return nil
}

// Execer runs a statement (a pool, a connection or a transaction).
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// CreateTable creates the ready-made time-series table name when missing,
// with an index on (device, ts), and makes it a TimescaleDB hypertable
// when the timescaledb extension is installed (its absence is logged).
func CreateTable(ctx context.Context, db Execer, name string, log *slog.Logger) error {
	ident := tableIdent(name)
	index := pgx.Identifier{strings.ReplaceAll(name, ".", "_") + "_device_ts"}.Sanitize()
	for _, ddl := range []string{
		"CREATE TABLE IF NOT EXISTS " + ident + " (device text NOT NULL, topic text NOT NULL, ts timestamptz NOT NULL, payload jsonb)",
		"CREATE INDEX IF NOT EXISTS " + index + " ON " + ident + " (device, ts DESC)",
	} {
		if _, err := db.Exec(ctx, ddl); err != nil {
			return fmt.Errorf("postgres: create table %s: %w", name, err)
		}
	}
	var timescale bool
	err := db.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')").Scan(&timescale)
	if err != nil {
		return fmt.Errorf("postgres: look for timescaledb: %w", err)
	}
	if !timescale {
		log.Info("postgres: timescaledb is not installed; the table stays a plain table", "table", name)
		return nil
	}
	if _, err := db.Exec(ctx, "SELECT create_hypertable($1::regclass, 'ts', if_not_exists => TRUE, migrate_data => TRUE)", ident); err != nil {
		return fmt.Errorf("postgres: create_hypertable %s: %w", name, err)
	}
	log.Info("postgres: table is a TimescaleDB hypertable", "table", name)
	return nil
}

// tableIdent quotes a table name, optionally schema-qualified.
func tableIdent(name string) string { return pgx.Identifier(strings.Split(name, ".")).Sanitize() }

// isDataError reports an error of one record's data: SQLSTATE class 22
// (data exception) or 23 (integrity constraint violation).
func isDataError(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (strings.HasPrefix(pe.Code, "22") || strings.HasPrefix(pe.Code, "23"))
}

// classify marks data, constraint and syntax errors (SQLSTATE classes 22,
// 23 and 42) as permanent, except an undefined table or column (42P01,
// 42703): a table being created or migrated is waited for (the bridge
// retries with backoff and shows the error in its status) rather than
// losing every record meanwhile. Connection errors stay retryable.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "42P01", pe.Code == "42703":
		case strings.HasPrefix(pe.Code, "22"), strings.HasPrefix(pe.Code, "23"), strings.HasPrefix(pe.Code, "42"):
			return bridge.Permanent(fmt.Errorf("postgres: %w", err))
		}
	}
	return fmt.Errorf("postgres: %w", err)
}

// Health checks that the server answers.
func (s *Sink) Health(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}

// Close closes the pool.
func (s *Sink) Close() error {
	s.pool.Close()
	return nil
}

var (
	_ bridge.Sink          = (*Sink)(nil)
	_ bridge.HealthChecker = (*Sink)(nil)
)
