package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/iothub-dev/iothub/auth"
	"github.com/iothub-dev/iothub/auth/users"
	"github.com/iothub-dev/iothub/internal/broker"
)

// BanManager is the hub's ban list; *auth.BanList implements it.
type BanManager interface {
	Add(ban auth.Ban) error
	Remove(kind auth.BanKind, value string) (bool, error)
	List() []auth.Ban
}

// UserManager is the built-in user store; *users.Store implements it.
type UserManager interface {
	AddUser(username, password string, superuser bool, clientIDs auth.ClientIDPatterns) error
	Remove(username string) error
	List() []users.User
	IsStatic(username string) bool
}

// securityRoutes are the endpoints of bans and users (docs/security.md).
func (a *API) securityRoutes() []route {
	return []route{
		{"GET /api/v1/bans", a.listBans},
		{"POST /api/v1/bans", a.addBan},
		{"DELETE /api/v1/bans/{kind}/{value...}", a.deleteBan},
		{"GET /api/v1/users", a.listUsers},
		{"POST /api/v1/users", a.addUser},
		{"DELETE /api/v1/users/{username}", a.deleteUser},
	}
}

func (a *API) banManager() (BanManager, error) {
	var m BanManager
	if a.o.Bans != nil {
		m = a.o.Bans()
	}
	if m == nil {
		return nil, errorf(http.StatusServiceUnavailable, CodeNotReady, "this hub has no ban list")
	}
	return m, nil
}

// banList is the answer of GET /api/v1/bans.
type banList struct {
	Data []auth.Ban `json:"data"`
}

func (a *API) listBans(w http.ResponseWriter, _ *http.Request) error {
	m, err := a.banManager()
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, banList{Data: m.List()})
	return nil
}

// banBody is the body of POST /api/v1/bans: until (RFC 3339) or duration
// (Go syntax, "1h30m") sets the expiry; neither: never expires.
type banBody struct {
	Kind     auth.BanKind `json:"kind"`
	Value    string       `json:"value"`
	Reason   string       `json:"reason"`
	Until    *time.Time   `json:"until"`
	Duration string       `json:"duration"`
}

// banAnswer is the ban added and the connections it closed.
type banAnswer struct {
	auth.Ban
	// Disconnected counts the connected clients the ban matched, which
	// were disconnected.
	Disconnected int `json:"disconnected"`
}

func (b banBody) ban(now time.Time) (auth.Ban, error) {
	ban := auth.Ban{Kind: b.Kind, Value: b.Value, Reason: b.Reason, Created: now}
	switch b.Kind {
	case auth.BanClientID, auth.BanUsername, auth.BanAddress:
	default:
		return ban, badField("kind", "%q: must be client_id, username or address", b.Kind)
	}
	if b.Value == "" {
		return ban, badField("value", "must not be empty")
	}
	switch {
	case b.Until != nil && b.Duration != "":
		return ban, badField("duration", "give until or duration, not both")
	case b.Until != nil:
		if !b.Until.After(now) {
			return ban, badField("until", "%s is in the past", b.Until.Format(time.RFC3339))
		}
		ban.Until = *b.Until
	case b.Duration != "":
		d, err := time.ParseDuration(b.Duration)
		if err != nil || d <= 0 {
			return ban, badField("duration", "%q: want a positive Go duration such as 30m or 24h", b.Duration)
		}
		ban.Until = now.Add(d)
	}
	return ban, nil
}

// addBan answers POST /api/v1/bans: it adds (or replaces) the ban and
// disconnects the connected clients it matches.
func (a *API) addBan(w http.ResponseWriter, r *http.Request) error {
	m, err := a.banManager()
	if err != nil {
		return err
	}
	var b banBody
	if err := decodeBody(r.Body, &b); err != nil {
		return err
	}
	ban, err := b.ban(time.Now().UTC())
	if err != nil {
		return err
	}
	if err := m.Add(ban); err != nil {
		if errors.Is(err, auth.ErrBadBan) {
			return &Error{Status: http.StatusBadRequest, Code: CodeInvalidField, Field: "value", Message: "value: " + err.Error(), Err: err}
		}
		return err
	}
	n := a.kickBanned(ban)
	until := "never"
	if !ban.Until.IsZero() {
		until = ban.Until.Format(time.RFC3339)
	}
	a.log.Warn("ban added through the API", "kind", ban.Kind, "value", ban.Value, "until", until, "reason", ban.Reason, "disconnected", n)
	writeJSON(w, http.StatusCreated, banAnswer{Ban: ban, Disconnected: n})
	return nil
}

// kickBanned disconnects the connected clients ban matches and returns
// how many.
func (a *API) kickBanned(ban auth.Ban) int {
	if a.o.Broker == nil {
		return 0
	}
	one := auth.NewBanList()
	if one.Add(ban) != nil {
		return 0
	}
	connected := true
	q := broker.ClientQuery{Connected: &connected, Limit: 1000}
	switch ban.Kind {
	case auth.BanClientID:
		q.IDPrefix = ban.Value
	case auth.BanUsername:
		q.Username = ban.Value
	}
	n := 0
	for {
		page, more := a.o.Broker.Clients(q)
		for _, c := range page {
			if _, hit := one.Check(&auth.ConnectInfo{ClientID: c.ClientID, Username: c.Username, RemoteAddr: c.Remote}); !hit {
				continue
			}
			if err := a.o.Broker.Kick(c.ClientID); err == nil {
				n++
			}
		}
		if !more || len(page) == 0 {
			return n
		}
		q.After = page[len(page)-1].ClientID
	}
}

func (a *API) deleteBan(w http.ResponseWriter, r *http.Request) error {
	m, err := a.banManager()
	if err != nil {
		return err
	}
	kind, value := auth.BanKind(r.PathValue("kind")), r.PathValue("value")
	found, err := m.Remove(kind, value)
	if err != nil {
		return err
	}
	if !found {
		return errorf(http.StatusNotFound, CodeBanNotFound, "no ban of kind %q on %q", kind, value)
	}
	a.log.Warn("ban removed through the API", "kind", kind, "value", value)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) userManager() (UserManager, error) {
	var m UserManager
	if a.o.Users != nil {
		m = a.o.Users()
	}
	if m == nil {
		return nil, errorf(http.StatusConflict, CodeUsersDisabled,
			`the built-in user store is off: add "users" to auth.chain in the configuration`)
	}
	return m, nil
}

// userJSON is a user as the API shows it: never its password hash.
type userJSON struct {
	Username  string `json:"username"`
	Superuser bool   `json:"superuser"`
	// Source is "config" (auth.users.static, read-only) or "file" (the
	// users file: the API and `iothub users`).
	Source string `json:"source"`
	// ClientIDs are the client ids the user may connect with (empty: the
	// store's default, auth.users.client_ids).
	ClientIDs []string `json:"client_ids,omitempty"`
}

func toUserJSON(m UserManager, u users.User) userJSON {
	src := "file"
	if m.IsStatic(u.Username) {
		src = "config"
	}
	return userJSON{Username: u.Username, Superuser: u.Superuser, Source: src, ClientIDs: u.ClientIDs}
}

// userList is the answer of GET /api/v1/users.
type userList struct {
	Data []userJSON `json:"data"`
}

func (a *API) listUsers(w http.ResponseWriter, _ *http.Request) error {
	m, err := a.userManager()
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, userList{Data: convertAll(m.List(), func(u users.User) userJSON { return toUserJSON(m, u) })})
	return nil
}

// credentials are the name and password of a user being created or
// replaced: a broker user (userBody) or a dashboard user (operatorBody).
type credentials struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// check refuses an empty name or password.
func (c credentials) check() error {
	switch {
	case c.Username == "":
		return badField("username", "must not be empty")
	case c.Password == "":
		return badField("password", "must not be empty")
	}
	return nil
}

// savedStatus is the status of a create-or-replace: 200 when the name
// existed, 201 when it is new.
func savedStatus(existed bool) int {
	if existed {
		return http.StatusOK
	}
	return http.StatusCreated
}

// userBody is the body of POST /api/v1/users.
type userBody struct {
	credentials
	Superuser bool `json:"superuser"`
	// ClientIDs are client id patterns ("%u", "lock-*").
	ClientIDs []string `json:"client_ids"`
}

// addUser answers POST /api/v1/users: it creates the user (201) or
// replaces its password, superuser flag and client ids (200).
func (a *API) addUser(w http.ResponseWriter, r *http.Request) error {
	m, err := a.userManager()
	if err != nil {
		return err
	}
	var b userBody
	if err := decodeBody(r.Body, &b); err != nil {
		return err
	}
	if err := b.check(); err != nil {
		return err
	}
	switch {
	case auth.ClientIDPatterns(b.ClientIDs).Validate() != nil:
		return badField("client_ids", "%v", auth.ClientIDPatterns(b.ClientIDs).Validate())
	case m.IsStatic(b.Username):
		return errorf(http.StatusForbidden, CodeUserReadOnly, "user %q is defined in the configuration file (auth.users.static)", b.Username)
	}
	existed := false
	for _, u := range m.List() {
		existed = existed || u.Username == b.Username
	}
	if err := m.AddUser(b.Username, b.Password, b.Superuser, b.ClientIDs); err != nil {
		return userError(err, b.Username)
	}
	a.log.Info("user added through the API", "username", b.Username, "superuser", b.Superuser, "replaced", existed)
	writeJSON(w, savedStatus(existed), userJSON{Username: b.Username, Superuser: b.Superuser, Source: "file", ClientIDs: b.ClientIDs})
	return nil
}

func (a *API) deleteUser(w http.ResponseWriter, r *http.Request) error {
	m, err := a.userManager()
	if err != nil {
		return err
	}
	name := r.PathValue("username")
	if err := m.Remove(name); err != nil {
		return userError(err, name)
	}
	a.log.Info("user removed through the API", "username", name)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// userError maps an error of the user store to an *Error.
func userError(err error, name string) error {
	switch {
	case errors.Is(err, users.ErrNotFound):
		return errorf(http.StatusNotFound, CodeUserNotFound, "no user %q", name)
	case errors.Is(err, users.ErrReadOnly):
		return errorf(http.StatusForbidden, CodeUserReadOnly, "user %q is defined in the configuration file (auth.users.static)", name)
	case errors.Is(err, users.ErrInvalid):
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidField, Message: err.Error(), Err: err}
	}
	return err
}
