package bridgemgr

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/iothub-dev/iothub/bridge/postgres"
	"github.com/iothub-dev/iothub/config"
)

// postgresSink parses a postgres bridge's statement and returns its
// record templates (one header per placeholder, in parameter order; or
// topic, client id and payload for the ready-made table) and the sink's
// options.
func postgresSink(def *config.Bridge, log *slog.Logger) (sinkTemplates, postgres.Options, error) {
	p := def.Postgres
	o := postgres.Options{URL: p.URL, Password: string(p.Password), Table: p.Table.Name,
		CreateTable: p.Table.Create, PoolSize: p.PoolSize, ConnectTimeout: p.ConnectTimeout.D(), Logger: log}
	if p.Statement == "" {
		return sinkTemplates{topic: keyed{"postgres.table", "${topic}"}, value: keyed{"postgres.table", "${payload}"}}, o, nil
	}
	st, err := postgres.ParseStatement(p.Statement)
	if err != nil {
		return sinkTemplates{}, o, fmt.Errorf("postgres.statement: %w", err)
	}
	tpl := sinkTemplates{topic: keyed{"postgres.statement", "postgres"}, headersKey: "postgres.statement"}
	for i, name := range st.Names {
		root, _, _ := strings.Cut(name, ".")
		root, _, _ = strings.Cut(root, "[")
		if !slices.Contains(EventFields, root) {
			return sinkTemplates{}, o, fmt.Errorf("postgres.statement: column %d: unknown field %q (known: %s)",
				st.Columns[i], root, strings.Join(EventFields, ", "))
		}
		tpl.headers = append(tpl.headers, config.KafkaHeader{Key: name, Value: "${" + name + "}"})
	}
	o.Statement = st
	return tpl, o, nil
}
