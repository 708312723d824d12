package api

import (
	"errors"
	"net/http"

	"github.com/iothub-dev/iothub/internal/schema"
)

// SchemaManager manages the schema registry of schema_decode and
// schema_encode; *schema.Registry implements it (docs/rules.md,
// "Schemas").
type SchemaManager interface {
	List() []schema.Info
	Get(name string) (schema.Info, error)
	Create(def schema.Schema) (schema.Info, error)
	Update(def schema.Schema) (schema.Info, error)
	Delete(name string) error
}

// schemaRoutes are the endpoints of the schema registry (EMQX's
// /schema_registry, under the name iothub gives it).
func (a *API) schemaRoutes() []route {
	return []route{
		{"GET /api/v1/schemas", using(a.schemaManager, a.listSchemas)},
		{"POST /api/v1/schemas", using(a.schemaManager, a.createSchema)},
		{"GET /api/v1/schemas/{name}", using(a.schemaManager, a.getSchema)},
		{"PUT /api/v1/schemas/{name}", using(a.schemaManager, a.updateSchema)},
		{"DELETE /api/v1/schemas/{name}", using(a.schemaManager, a.deleteSchema)},
	}
}

// schemaManager returns the registry, or a 503 when there is none.
func (a *API) schemaManager() (SchemaManager, error) {
	return component(a.o.Schemas, errorf(http.StatusServiceUnavailable, CodeNotReady, "the schema registry is not running"))
}

// schemaError maps an error of the schema package to an *Error; a source
// that does not compile names the line and column, in field "source".
func schemaError(err error, name string) error {
	var inv *schema.InvalidError
	switch {
	case errors.As(err, &inv):
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidSchema, Field: "source", Message: inv.Error(), Err: err}
	case errors.Is(err, schema.ErrNotFound):
		return errorf(http.StatusNotFound, CodeSchemaNotFound, "no schema %q", name)
	case errors.Is(err, schema.ErrExists):
		return errorf(http.StatusConflict, CodeSchemaExists, "a schema %q already exists", name)
	case errors.Is(err, schema.ErrReadOnly):
		return errorf(http.StatusForbidden, CodeSchemaReadOnly,
			"schema %q is defined in the configuration file (rules.schemas): change the file and restart the hub", name)
	case errors.Is(err, schema.ErrInvalid):
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidSchema, Message: err.Error(), Err: err}
	}
	return err
}

// schemaList is the answer of GET /api/v1/schemas.
type schemaList struct {
	Data []schema.Info `json:"data"`
}

func (a *API) listSchemas(m SchemaManager, w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, schemaList{Data: m.List()})
	return nil
}

func (a *API) getSchema(m SchemaManager, w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	info, err := m.Get(name)
	return reply(w, http.StatusOK, info, err, func(err error) error { return schemaError(err, name) })
}

// decodeSchema decodes a schema body; pathName is the name in the URL
// ("" for POST).
func decodeSchema(r *http.Request, pathName string) (schema.Schema, error) {
	var s schema.Schema
	if err := decodeBody(r.Body, &s); err != nil {
		return schema.Schema{}, err
	}
	switch {
	case pathName != "" && s.Name == "":
		s.Name = pathName
	case pathName != "" && s.Name != pathName:
		return schema.Schema{}, badField("name", "%q differs from the name in the path, %q", s.Name, pathName)
	case s.Name == "":
		return schema.Schema{}, badField("name", "required")
	}
	if s.Source == "" {
		return schema.Schema{}, badField("source", "the .proto text is required")
	}
	return s, nil
}

func (a *API) createSchema(m SchemaManager, w http.ResponseWriter, r *http.Request) error {
	def, err := decodeSchema(r, "")
	if err != nil {
		return err
	}
	info, err := m.Create(def)
	if err != nil {
		return schemaError(err, def.Name)
	}
	a.log.Info("schema created through the API", "schema", def.Name)
	writeJSON(w, http.StatusCreated, info)
	return nil
}

func (a *API) updateSchema(m SchemaManager, w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if _, err := m.Get(name); err != nil {
		return schemaError(err, name) // 404 before a body error
	}
	def, err := decodeSchema(r, name)
	if err != nil {
		return err
	}
	info, err := m.Update(def)
	if err != nil {
		return schemaError(err, name)
	}
	a.log.Info("schema updated through the API", "schema", name)
	writeJSON(w, http.StatusOK, info)
	return nil
}

func (a *API) deleteSchema(m SchemaManager, w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if err := m.Delete(name); err != nil {
		return schemaError(err, name)
	}
	a.log.Info("schema deleted through the API", "schema", name)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
