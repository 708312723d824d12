package app

import (
	"fmt"
	"os"
	"strconv"

	"github.com/iothub-dev/iothub/config"
	"github.com/iothub-dev/iothub/internal/schema"
)

// setupSchemas builds the schema registry of schema_decode and
// schema_encode: the schemas of the configuration file (a source that does
// not compile stops the hub, naming the entry, the line and the column),
// then those created through the API (data_dir/schemas.json; one that no
// longer loads is skipped with a warning).
func (a *App) setupSchemas() error {
	reg := schema.New(schema.Options{DataDir: a.cfg.DataDir})
	for i, c := range a.cfg.Rules.Schemas {
		key := "config rules.schemas." + strconv.Itoa(i)
		def, err := schemaFromConfig(c)
		if err != nil {
			return fmt.Errorf("%s.file: %w", key, err)
		}
		if err := reg.AddConfig(def); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
	}
	skipped, err := reg.Load()
	if err != nil {
		return err
	}
	for name, err := range skipped {
		a.log.Warn("stored schema skipped", "schema", name, "error", err)
	}
	a.schemas = reg
	return nil
}

// schemaFromConfig turns a schema of the file into a definition, reading
// its file when it names one.
func schemaFromConfig(c config.Schema) (schema.Schema, error) {
	def := schema.Schema{Name: c.Name, Type: c.Type, Source: c.Source, Description: c.Description}
	if c.File != "" {
		b, err := os.ReadFile(c.File)
		if err != nil {
			return schema.Schema{}, fmt.Errorf("read schema source: %w", err)
		}
		def.Source = string(b)
	}
	return def, nil
}

// Schemas returns the schema registry: the management API for the HTTP
// layer.
func (a *App) Schemas() *schema.Registry { return a.schemas }
