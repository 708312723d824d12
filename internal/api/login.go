package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"mime"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// SessionCookie is the name of the dashboard's session cookie.
const SessionCookie = "iothub_session"

// CSRFHeader carries a dashboard session's CSRF token on every request
// that changes something (POST, PUT, PATCH, DELETE).
const CSRFHeader = "X-CSRF-Token"

// Operators checks the dashboard's users (operators, not devices);
// internal/app adapts a users.Store kept in <data_dir>/dashboard_users.json.
type Operators interface {
	// Check reports whether password is username's; it may be slow
	// (bcrypt) and is bounded by ctx.
	Check(ctx context.Context, username, password string) bool
	// Role returns username's role (RoleViewer: read-only; "": may do
	// what an API key may) and whether it is (still) a dashboard user.
	Role(username string) (role string, ok bool)
}

// RoleViewer is the role of a dashboard user who may read everything and
// change nothing: its session is refused every request that changes
// something (readOnlyPost lists the POSTs that do not).
const RoleViewer = "viewer"

// readOnlyPost are the POST requests that change nothing: a viewer may
// send them (the SQL tester, the ACL tester).
var readOnlyPost = map[string]bool{"/api/v1/rules/test": true, "/api/v1/acl/check": true}

// Bounds of the session table and of the login failure limiter.
const (
	maxSessions       = 1000
	sessionMaxAge     = 12 * time.Hour
	loginFailWindow   = 10 * time.Minute
	loginFailMax      = 10
	loginLimiterSlots = 10000
)

// session is one signed-in dashboard user.
type session struct {
	user     string
	csrf     string
	created  time.Time
	lastSeen time.Time
}

// sessionTable holds the dashboard sessions in memory, keyed by the
// SHA-256 of the cookie value: a restart signs everyone out.
type sessionTable struct {
	idle time.Duration

	mu    sync.Mutex
	byKey map[[sha256.Size]byte]*session
	fails map[string][]time.Time // remote IP → recent failed sign-ins
}

func newSessionTable(idle time.Duration) *sessionTable {
	return &sessionTable{idle: idle, byKey: map[[sha256.Size]byte]*session{}, fails: map[string][]time.Time{}}
}

func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics instead)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// create starts a session for user and returns the cookie value.
func (t *sessionTable) create(user string, now time.Time) (string, *session) {
	token := randomToken()
	s := &session{user: user, csrf: randomToken(), created: now, lastSeen: now}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.byKey) >= maxSessions {
		t.evictLocked(now)
	}
	t.byKey[sha256.Sum256([]byte(token))] = s
	return token, s
}

// evictLocked removes expired sessions and, if the table is still full,
// the least recently used one.
func (t *sessionTable) evictLocked(now time.Time) {
	var oldestKey [sha256.Size]byte
	var oldest *session
	for k, s := range t.byKey {
		if t.expired(s, now) {
			delete(t.byKey, k)
			continue
		}
		if oldest == nil || s.lastSeen.Before(oldest.lastSeen) {
			oldestKey, oldest = k, s
		}
	}
	if len(t.byKey) >= maxSessions && oldest != nil {
		delete(t.byKey, oldestKey)
	}
}

func (t *sessionTable) expired(s *session, now time.Time) bool {
	return now.Sub(s.lastSeen) > t.idle || now.Sub(s.created) > sessionMaxAge
}

// lookup returns the live session of a cookie value and marks it used.
func (t *sessionTable) lookup(token string, now time.Time) (session, bool) {
	k := sha256.Sum256([]byte(token))
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.byKey[k]
	if !ok {
		return session{}, false
	}
	if t.expired(s, now) {
		delete(t.byKey, k)
		return session{}, false
	}
	s.lastSeen = now
	return *s, true
}

// end removes the session of a cookie value.
func (t *sessionTable) end(token string) {
	t.mu.Lock()
	delete(t.byKey, sha256.Sum256([]byte(token)))
	t.mu.Unlock()
}

// endUser removes every session of user (the user was removed).
func (t *sessionTable) endUser(user string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, s := range t.byKey {
		if s.user == user {
			delete(t.byKey, k)
		}
	}
}

// blocked reports whether ip failed to sign in loginFailMax times within
// loginFailWindow, and for how long it stays blocked.
func (t *sessionTable) blocked(ip string, now time.Time) (time.Duration, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	recent := t.recentLocked(ip, now)
	if len(recent) < loginFailMax {
		return 0, false
	}
	return recent[0].Add(loginFailWindow).Sub(now), true
}

// failed records a failed sign-in from ip.
func (t *sessionTable) failed(ip string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.fails) >= loginLimiterSlots {
		clear(t.fails) // a flood of addresses: start over rather than grow
	}
	t.fails[ip] = append(t.recentLocked(ip, now), now)
}

func (t *sessionTable) recentLocked(ip string, now time.Time) []time.Time {
	list := t.fails[ip]
	i := 0
	for i < len(list) && now.Sub(list[i]) > loginFailWindow {
		i++
	}
	list = list[i:]
	if len(list) == 0 {
		delete(t.fails, ip)
		return nil
	}
	t.fails[ip] = list
	return list
}

// authRoutes are the dashboard's sign-in endpoints.
func (a *API) authRoutes() []route {
	return []route{
		{"POST /api/v1/auth/login", a.login},
		{"POST /api/v1/auth/logout", a.logout},
		{"GET /api/v1/auth/session", a.whoami},
	}
}

// loginBody is the body of POST /api/v1/auth/login.
type loginBody struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// sessionJSON describes the caller's dashboard session.
type sessionJSON struct {
	Username string `json:"username"`
	// Role is "viewer" for a read-only user, absent for an administrator.
	Role      string `json:"role,omitempty"`
	CSRFToken string `json:"csrf_token"`
	// IdleTimeoutSeconds is how long the session lasts unused.
	IdleTimeoutSeconds int64 `json:"idle_timeout_seconds"`
}

// login answers POST /api/v1/auth/login: it checks a dashboard user's
// password and sets the session cookie.
func (a *API) login(w http.ResponseWriter, r *http.Request) error {
	if a.o.Operators == nil {
		return errorf(http.StatusServiceUnavailable, CodeNotReady, "the dashboard is disabled (api.dashboard: false)")
	}
	// A JSON body only: a cross-site HTML form cannot send one, so nobody
	// can sign a victim's browser into the attacker's account.
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return errorf(http.StatusUnsupportedMediaType, CodeBadRequest, "send the credentials as application/json")
	}
	ip := remoteIP(r)
	now := time.Now()
	if wait, ok := a.sessions.blocked(ip, now); ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait/time.Second)+1))
		return errorf(http.StatusTooManyRequests, CodeTooManyAttempts, "too many failed sign-ins from %s: try again in %s", ip, wait.Round(time.Second))
	}
	var b loginBody
	if err := decodeBody(r.Body, &b); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	if b.Username == "" || !a.o.Operators.Check(ctx, b.Username, b.Password) {
		a.sessions.failed(ip, now)
		a.log.Warn("dashboard sign-in refused", "username", b.Username, "remote", ip)
		return errorf(http.StatusUnauthorized, CodeUnauthorized, "wrong username or password")
	}
	token, s := a.sessions.create(b.Username, now)
	// Secure follows the connection: over plain HTTP (no api.tls_cert_file)
	// a Secure cookie would never come back. HttpOnly and SameSite=Strict
	// always.
	http.SetCookie(w, &http.Cookie{ //nolint:gosec // Secure is set whenever the API is served over TLS (see above)
		Name: SessionCookie, Value: token, Path: "/", HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, MaxAge: int(sessionMaxAge / time.Second),
	})
	a.log.Info("dashboard sign-in", "username", b.Username, "remote", ip)
	writeJSON(w, http.StatusOK, sessionJSON{Username: s.user, Role: a.roleOf(s.user), CSRFToken: s.csrf,
		IdleTimeoutSeconds: int64(a.sessions.idle / time.Second)})
	return nil
}

// logout answers POST /api/v1/auth/logout: the session ends and the
// cookie is cleared.
func (a *API) logout(w http.ResponseWriter, r *http.Request) error {
	if c, err := r.Cookie(SessionCookie); err == nil {
		if err := a.checkSession(r, c); err != nil {
			var e *Error
			if errors.As(err, &e) && e.Code == CodeCSRF {
				return err // signing someone out is a change too
			}
		}
		a.sessions.end(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", HttpOnly: true, Secure: r.TLS != nil, //nolint:gosec // clears the cookie; Secure as when it was set
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// whoami answers GET /api/v1/auth/session with the caller's session and
// its CSRF token (the dashboard reads it after a page reload).
func (a *API) whoami(w http.ResponseWriter, r *http.Request) error {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return errorf(http.StatusUnauthorized, CodeUnauthorized, "not signed in to the dashboard")
	}
	s, ok := a.sessions.lookup(c.Value, time.Now())
	if !ok {
		return errorf(http.StatusUnauthorized, CodeUnauthorized, "not signed in to the dashboard")
	}
	writeJSON(w, http.StatusOK, sessionJSON{Username: s.user, Role: a.roleOf(s.user), CSRFToken: s.csrf,
		IdleTimeoutSeconds: int64(a.sessions.idle / time.Second)})
	return nil
}

// checkSession authenticates a request by its session cookie, requires
// the session's CSRF token in X-CSRF-Token on anything but GET, HEAD and
// OPTIONS, and refuses a viewer's changes. The user's role is read on
// every request, so removing a user or making it a viewer takes effect at
// once.
func (a *API) checkSession(r *http.Request, c *http.Cookie) error {
	s, ok := a.sessions.lookup(c.Value, time.Now())
	role := ""
	if ok && a.o.Operators != nil {
		if role, ok = a.o.Operators.Role(s.user); !ok {
			a.sessions.endUser(s.user)
		}
	}
	if !ok {
		return errorf(http.StatusUnauthorized, CodeUnauthorized, "the dashboard session has ended: sign in again")
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	got := r.Header.Get(CSRFHeader)
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) != 1 {
		return errorf(http.StatusForbidden, CodeCSRF, "missing or wrong %s header", CSRFHeader)
	}
	if role == RoleViewer && changes(r) && !isSignIn(r) {
		return errorf(http.StatusForbidden, CodeReadOnlyRole, "%s is a viewer: the dashboard is read-only for this user", s.user)
	}
	return nil
}

// roleOf returns the role of a session's user ("" without operators).
func (a *API) roleOf(user string) string {
	if a.o.Operators == nil {
		return ""
	}
	role, _ := a.o.Operators.Role(user)
	return role
}

// remoteIP is the host part of the connection's address (headers are not
// trusted here: the limiter must not be fooled by X-Forwarded-For).
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
