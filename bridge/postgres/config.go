package postgres

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/iothub-dev/iothub/bridge"
	"github.com/iothub-dev/iothub/config"
)

// Type is this package's bridge type.
const Type = "postgres"

func init() {
	bridge.RegisterType(bridge.TypeInfo{Name: Type, New: func() bridge.Config { return NewConfig() }, Example: example})
}

// Config is the postgres type's keys: rule outputs written as rows
// (docs/bridges.md).
type Config struct {
	Postgres Settings `yaml:"postgres"`
}

// Settings is the postgres section. Statement names event fields as
// ${field}; each is bound as a query parameter, never spliced into the
// SQL. TLS is the URL's sslmode (the bridge's tls section is refused).
type Settings struct {
	// URL is the connection string, without the password
	// (postgres://user@host:5432/db?sslmode=disable, or key=value form).
	URL string `yaml:"url"`
	// Password is the role's password ("": none, or from the URL).
	Password config.Secret `yaml:"password"`
	// Statement is the INSERT run for each record, with ${field}
	// placeholders ("": the ready-made table's insert).
	Statement string `yaml:"statement"`
	// PoolSize bounds the connections to the server.
	PoolSize int `yaml:"pool_size"`
	// ConnectTimeout bounds a connection attempt.
	ConnectTimeout config.Duration `yaml:"connect_timeout"`
	// Table is the ready-made time-series table.
	Table TableSettings `yaml:"table"`
}

// TableSettings is the ready-made time-series table (device text, topic
// text, ts timestamptz, payload jsonb), a hypertable under TimescaleDB.
type TableSettings struct {
	// Create creates the table (and its index) when missing.
	Create bool `yaml:"create"`
	// Name is the table, optionally schema-qualified.
	Name string `yaml:"name"`
}

// NewConfig returns the postgres defaults.
func NewConfig() *Config {
	return &Config{Postgres: Settings{PoolSize: 4, ConnectTimeout: config.Duration(10 * time.Second),
		Table: TableSettings{Name: "iothub_messages"}}}
}

// Validate implements bridge.Config.
func (c *Config) Validate() error {
	var v config.Checker
	p := &c.Postgres
	v.Required("postgres.url", p.URL)
	if p.Statement == "" && !p.Table.Create && p.Table.Name == "" {
		v.Bad("postgres.statement", "required unless table.name is set")
	}
	if p.Table.Create && p.Table.Name == "" {
		v.Bad("postgres.table.name", "required with table.create")
	}
	v.Between("postgres.pool_size", p.PoolSize, 1, 1000)
	v.Duration("postgres.connect_timeout", p.ConnectTimeout, 100*time.Millisecond, 0)
	return v.Err()
}

// Build implements bridge.Config: the statement parsed, a Sink (not
// connected) and the record templates: one header per placeholder, in
// parameter order; or topic, client id and payload for the ready-made
// table.
func (c *Config) Build(bc bridge.BuildContext) (*bridge.Parts, error) {
	if bc.TLSEnabled {
		return nil, errors.New("tls: a postgres bridge takes TLS from sslmode in postgres.url")
	}
	p := c.Postgres
	o := Options{URL: p.URL, Password: string(p.Password), Table: p.Table.Name, CreateTable: p.Table.Create,
		PoolSize: p.PoolSize, ConnectTimeout: p.ConnectTimeout.D(), Logger: bc.Logger}
	tpl := bridge.Templates{Topic: bridge.TemplateSpec{Key: "postgres.table", Text: "${topic}"},
		Value: bridge.TemplateSpec{Key: "postgres.table", Text: "${payload}"}}
	if p.Statement != "" {
		st, err := ParseStatement(p.Statement)
		if err != nil {
			return nil, fmt.Errorf("postgres.statement: %w", err)
		}
		tpl = bridge.Templates{Topic: bridge.TemplateSpec{Key: "postgres.statement", Text: "postgres"}, HeadersKey: "postgres.statement"}
		for i, name := range st.Names {
			root, _, _ := strings.Cut(name, ".")
			root, _, _ = strings.Cut(root, "[")
			if !slices.Contains(bridge.EventFields, root) {
				return nil, fmt.Errorf("postgres.statement: column %d: unknown field %q (known: %s)",
					st.Columns[i], root, strings.Join(bridge.EventFields, ", "))
			}
			tpl.Headers = append(tpl.Headers, bridge.KeyValue{Key: name, Value: "${" + name + "}"})
		}
		o.Statement = st
	}
	s, err := New(o)
	if err != nil {
		return nil, err
	}
	return &bridge.Parts{Sink: s, Templates: tpl}, nil
}

const example = `postgres:
  url: "" # postgres://user@host:5432/db?sslmode=disable, without the password (required); TLS is its sslmode
  password: "" # the role's password
  statement: "" # INSERT with ${field} placeholders bound as parameters ("": insert into table.name)
  pool_size: 4 # connections to the server
  connect_timeout: 10s # bound on a connection attempt
  table:
    create: false # create the time-series table (device, topic, ts, payload jsonb) when missing
    name: iothub_messages # the ready-made table (a hypertable under TimescaleDB)
`

var _ bridge.Config = (*Config)(nil)
