package api

import (
	"errors"
	"net/http"

	"github.com/iothub-dev/iothub/auth/users"
)

// OperatorAdmin manages the dashboard's users; the Operators of Options
// implement it when the dashboard users can be changed through the API
// (internal/app's adapter of dashboard_users.json does).
type OperatorAdmin interface {
	// ListOperators returns every dashboard user, sorted by name.
	ListOperators() []Operator
	// PutOperator creates or replaces a dashboard user (errors wrap
	// users.ErrInvalid for a bad name, password or role).
	PutOperator(username, password, role string) error
	// RemoveOperator deletes one (errors wrap users.ErrNotFound).
	RemoveOperator(username string) error
}

// Operator is a dashboard user as listed: never its password hash.
type Operator struct {
	Username string `json:"username"`
	// Role is RoleViewer, or empty for an administrator.
	Role string `json:"role,omitempty"`
}

// operatorRoutes are the endpoints of the dashboard's users: the same
// operations as `iothub users --dashboard`.
func (a *API) operatorRoutes() []route {
	return []route{
		{"GET /api/v1/dashboard/users", a.listOperators},
		{"POST /api/v1/dashboard/users", a.putOperator},
		{"DELETE /api/v1/dashboard/users/{username}", a.removeOperator},
	}
}

func (a *API) operatorAdmin() (OperatorAdmin, error) {
	if m, ok := a.o.Operators.(OperatorAdmin); ok {
		return m, nil
	}
	return nil, errorf(http.StatusServiceUnavailable, CodeNotReady, "the dashboard is disabled (api.dashboard: false)")
}

func (a *API) listOperators(w http.ResponseWriter, _ *http.Request) error {
	m, err := a.operatorAdmin()
	if err != nil {
		return err
	}
	list := m.ListOperators()
	if list == nil {
		list = []Operator{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": list})
	return nil
}

// operatorBody is the body of POST /api/v1/dashboard/users.
type operatorBody struct {
	credentials
	Role string `json:"role"`
}

// putOperator answers POST /api/v1/dashboard/users: it creates the user
// (201) or replaces its password and role (200). Making the last
// administrator a viewer is refused: nobody could change anything again.
func (a *API) putOperator(w http.ResponseWriter, r *http.Request) error {
	m, err := a.operatorAdmin()
	if err != nil {
		return err
	}
	var b operatorBody
	if err := decodeBody(r.Body, &b); err != nil {
		return err
	}
	if err := b.check(); err != nil {
		return err
	}
	if b.Role != "" && b.Role != RoleViewer {
		return badField("role", "%q: must be %q or absent (an administrator)", b.Role, RoleViewer)
	}
	list := m.ListOperators()
	existed := false
	for _, o := range list {
		existed = existed || o.Username == b.Username
	}
	if b.Role != "" && lastAdministrator(list, b.Username) {
		return errorf(http.StatusConflict, CodeLastAdministrator, "%s is the last administrator: make another user one first", b.Username)
	}
	if err := m.PutOperator(b.Username, b.Password, b.Role); err != nil {
		return operatorError(err, b.Username)
	}
	a.log.Info("dashboard user saved through the API", "username", b.Username, "role", b.Role, "replaced", existed)
	writeJSON(w, savedStatus(existed), Operator{Username: b.Username, Role: b.Role})
	return nil
}

// removeOperator answers DELETE /api/v1/dashboard/users/{username}; the
// user's sessions end at their next request.
func (a *API) removeOperator(w http.ResponseWriter, r *http.Request) error {
	m, err := a.operatorAdmin()
	if err != nil {
		return err
	}
	name := r.PathValue("username")
	if lastAdministrator(m.ListOperators(), name) {
		return errorf(http.StatusConflict, CodeLastAdministrator, "%s is the last administrator: make another user one first", name)
	}
	if err := m.RemoveOperator(name); err != nil {
		return operatorError(err, name)
	}
	a.sessions.endUser(name)
	a.log.Info("dashboard user removed through the API", "username", name)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// lastAdministrator reports whether name is the only administrator in
// list.
func lastAdministrator(list []Operator, name string) bool {
	admins, isAdmin := 0, false
	for _, o := range list {
		if o.Role == "" {
			admins++
			isAdmin = isAdmin || o.Username == name
		}
	}
	return isAdmin && admins == 1
}

// operatorError maps an error of the dashboard user store to an *Error.
func operatorError(err error, name string) error {
	switch {
	case errors.Is(err, users.ErrNotFound):
		return errorf(http.StatusNotFound, CodeUserNotFound, "no dashboard user %q", name)
	case errors.Is(err, users.ErrInvalid):
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidField, Message: err.Error(), Err: err}
	}
	return err
}
