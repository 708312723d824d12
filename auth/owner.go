package auth

import (
	"errors"
	"fmt"
	"strings"

	"github.com/iothub-dev/iothub/mqtt/packet"
)

// Owner returns who owns the sessions this identity creates or resumes:
// "<authenticator>/user:<principal>", or "<authenticator>/client:<client
// id>" when the authenticator vouched for the client id alone. An
// anonymous identity, or one no authenticator vouched for, owns nothing
// ("").
//
// The broker lets a client resume or take over a session only when its
// Owner is the session's (an unowned session is claimed by the first
// identified client that resumes it). So a device whose credentials are
// valid cannot take the session, queued commands and subscriptions of a
// device that is someone else, even with its client id.
func (id *Identity) Owner() string {
	if id == nil || id.Anonymous || id.Authenticator == "" {
		return ""
	}
	if id.Principal != "" {
		return id.Authenticator + "/user:" + id.Principal
	}
	return id.Authenticator + "/client:" + id.ClientID
}

// ErrSessionOwned is returned (wrapped) when a client would resume or take
// over a session that belongs to another identity (see Identity.Owner).
var ErrSessionOwned = errors.New("auth: the session belongs to another identity")

// ErrBadPattern is returned (wrapped) for a client-id pattern that cannot
// be used.
var ErrBadPattern = errors.New("auth: invalid client id pattern")

// ClientIDPatterns are the client ids an identity may connect with. A
// pattern matches a whole client id: '*' stands for any run of characters
// (none included), %u for the identity's principal (user name,
// certificate identity, token subject) taken literally, %% for a '%'.
// "%u" binds a user to the client id of its own name, "lock-*" to every
// client id starting "lock-". An empty list allows every client id.
type ClientIDPatterns []string

// Validate checks every pattern.
func (ps ClientIDPatterns) Validate() error {
	for _, p := range ps {
		if err := validatePattern(p); err != nil {
			return err
		}
	}
	return nil
}

func validatePattern(p string) error {
	if p == "" {
		return fmt.Errorf("%w: empty", ErrBadPattern)
	}
	for i := 0; i < len(p); i++ {
		if p[i] != '%' {
			continue
		}
		if i+1 == len(p) || (p[i+1] != 'u' && p[i+1] != '%') {
			return fmt.Errorf("%w: %q: '%%' must be followed by u or %%", ErrBadPattern, p)
		}
		i++
	}
	return nil
}

// Allow reports whether clientID matches one of the patterns for the
// principal (an empty list allows everything). A pattern using %u never
// matches when principal is empty.
func (ps ClientIDPatterns) Allow(clientID, principal string) bool {
	if len(ps) == 0 {
		return true
	}
	for _, p := range ps {
		if matchPattern(p, clientID, principal) {
			return true
		}
	}
	return false
}

// matchPattern matches s against the pattern p, with %u expanded to the
// literal principal: glob matching where '*' is the only wildcard.
func matchPattern(p, s, principal string) bool {
	var parts []string // literal runs; a '*' between each two
	var lit strings.Builder
	for i := 0; i < len(p); i++ {
		switch {
		case p[i] == '*':
			parts = append(parts, lit.String())
			lit.Reset()
		case p[i] == '%' && i+1 < len(p) && p[i+1] == 'u':
			if principal == "" {
				return false
			}
			lit.WriteString(principal)
			i++
		case p[i] == '%' && i+1 < len(p) && p[i+1] == '%':
			lit.WriteByte('%')
			i++
		default:
			lit.WriteByte(p[i])
		}
	}
	parts = append(parts, lit.String())
	if len(parts) == 1 {
		return s == parts[0]
	}
	first, last := parts[0], parts[len(parts)-1]
	if len(s) < len(first)+len(last) || !strings.HasPrefix(s, first) || !strings.HasSuffix(s, last) {
		return false
	}
	s = s[len(first) : len(s)-len(last)]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(s, mid)
		if i < 0 {
			return false
		}
		s = s[i+len(mid):]
	}
	return true
}

// CheckClientID refuses, with Client Identifier not valid (0x85), an
// identity whose client id the patterns do not allow; by names the
// authenticator in the reason.
func CheckClientID(ps ClientIDPatterns, id *Identity, by string) (Result, bool) {
	if ps.Allow(id.ClientID, id.Principal) {
		return Result{}, true
	}
	return Denied(packet.ClientIdentifierNotValid, fmt.Sprintf("%s: client id %q is not one %q may use", by, id.ClientID, id.Principal)), false
}
