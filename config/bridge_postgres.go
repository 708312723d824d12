package config

import "time"

// PostgresBridge is the postgres bridge: rule outputs written as rows
// (docs/bridges.md). Statement names event fields as ${field}; each is
// bound as a query parameter, never spliced into the SQL.
type PostgresBridge struct {
	// URL is the connection string, without the password
	// (postgres://user@host:5432/db?sslmode=disable, or key=value form).
	URL string `yaml:"url" json:"url"`
	// Password is the role's password ("": none, or from the URL).
	Password Secret `yaml:"password" json:"password"`
	// Statement is the INSERT run for each record, with ${field}
	// placeholders ("": the ready-made table's insert).
	Statement string `yaml:"statement" json:"statement"`
	// PoolSize bounds the connections to the server.
	PoolSize int `yaml:"pool_size" json:"pool_size"`
	// ConnectTimeout bounds a connection attempt.
	ConnectTimeout Duration `yaml:"connect_timeout" json:"connect_timeout"`
	// Table is the ready-made time-series table.
	Table PostgresTable `yaml:"table" json:"table"`
}

// PostgresTable is the ready-made time-series table (device text, topic
// text, ts timestamptz, payload jsonb), a hypertable under TimescaleDB.
type PostgresTable struct {
	// Create creates the table (and its index) when missing.
	Create bool `yaml:"create" json:"create"`
	// Name is the table, optionally schema-qualified.
	Name string `yaml:"name" json:"name"`
}

func defaultPostgres() PostgresBridge {
	return PostgresBridge{PoolSize: 4, ConnectTimeout: Duration(10 * time.Second),
		Table: PostgresTable{Name: "iothub_messages"}}
}

func (p *PostgresBridge) validate(key string, v *checker) {
	if p.URL == "" {
		v.bad(join(key, "postgres.url"), "required")
	}
	if p.Statement == "" && !p.Table.Create && p.Table.Name == "" {
		v.bad(join(key, "postgres.statement"), "required unless table.name is set")
	}
	if p.Table.Create && p.Table.Name == "" {
		v.bad(join(key, "postgres.table.name"), "required with table.create")
	}
	v.between(join(key, "postgres.pool_size"), p.PoolSize, 1, 1000)
	v.duration(join(key, "postgres.connect_timeout"), p.ConnectTimeout, 100*time.Millisecond, 0)
}
