package registry

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"runtime"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/iothub-dev/iothub/auth"
	"github.com/iothub-dev/iothub/mqtt/packet"
)

// Authenticator is the registry's authenticator for the hub's chain
// (auth.chain: [devices, …]). A client whose client id is a registered
// device:
//   - is refused (Not authorized) when the device is disabled;
//   - with credentials registered, is allowed when its password matches
//     the device's hash or its client certificate's SHA-256 matches the
//     device's fingerprint, and refused otherwise (Bad user name or
//     password), whatever later authenticators would say: no one connects
//     as a registered device without its credentials;
//   - without credentials registered, gets no opinion.
//
// Clients that are not registered get no opinion, so the next
// authenticator decides.
type Authenticator struct{ R *Registry }

// Authenticate implements auth.Authenticator.
func (a Authenticator) Authenticate(ctx context.Context, ci *auth.ConnectInfo) auth.Result {
	d, err := a.R.Get(ci.ClientID)
	switch {
	case errors.Is(err, ErrNotFound):
		return auth.Pass
	case err != nil:
		return auth.Denied(packet.ServerUnavailable, "registry: "+err.Error())
	case !d.Enabled:
		return auth.Denied(packet.NotAuthorized, "device "+d.ID+" is disabled")
	case !d.HasCredentials():
		return auth.Pass
	}
	if d.CertFingerprint != "" && subtle.ConstantTimeCompare([]byte(d.CertFingerprint), []byte(ci.CertFingerprint)) == 1 {
		return auth.Allowed(deviceIdentity(ci, &d))
	}
	if d.PasswordHash != "" && len(ci.Password) > 0 && a.R.auth.check(ctx, &d, ci.Password) {
		return auth.Allowed(deviceIdentity(ci, &d))
	}
	return auth.Denied(packet.BadUsernameOrPassword, "wrong credentials for device "+d.ID)
}

// deviceIdentity is the identity of a device the registry vouched for:
// the device is the principal, and its id the username, so that an ACL's
// %u never expands to a username the client picked (the registry checks
// the client id's credentials, not the username).
func deviceIdentity(ci *auth.ConnectInfo, d *Device) *auth.Identity {
	id := auth.NewIdentity(ci, "devices")
	id.Username, id.Principal = d.ID, d.ID
	return id
}

var _ auth.Authenticator = Authenticator{}

// authCache remembers successful password checks so that a reconnecting
// fleet does not pay bcrypt each time; it bounds concurrent bcrypt runs.
type authCache struct {
	ttl  time.Duration
	key  [32]byte
	sem  chan struct{}
	mu   sync.Mutex
	seen map[string]authEntry
}

type authEntry struct {
	mac   [sha256.Size]byte
	until time.Time
}

func (c *authCache) init(ttl time.Duration) {
	c.ttl = ttl
	_, _ = rand.Read(c.key[:])
	c.sem = make(chan struct{}, runtime.GOMAXPROCS(0))
	c.seen = map[string]authEntry{}
}

// sum binds the password to the device and its current hash, so a new
// password invalidates what was remembered.
func (c *authCache) sum(d *Device, password []byte) [sha256.Size]byte {
	m := hmac.New(sha256.New, c.key[:])
	for _, p := range [][]byte{[]byte(d.ID), {0}, []byte(d.PasswordHash), {0}, password} {
		m.Write(p)
	}
	var out [sha256.Size]byte
	m.Sum(out[:0])
	return out
}

func (c *authCache) remembered(id string, mac [sha256.Size]byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.seen[id]
	return ok && hmac.Equal(e.mac[:], mac[:]) && time.Now().Before(e.until)
}

// check compares password with d's hash.
func (c *authCache) check(ctx context.Context, d *Device, password []byte) bool {
	mac := c.sum(d, password)
	if c.remembered(d.ID, mac) {
		return true
	}
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	ok := bcrypt.CompareHashAndPassword([]byte(d.PasswordHash), password) == nil
	<-c.sem
	if ok && c.ttl > 0 {
		c.mu.Lock()
		if len(c.seen) >= 100_000 {
			clear(c.seen)
		}
		c.seen[d.ID] = authEntry{mac: mac, until: time.Now().Add(c.ttl)}
		c.mu.Unlock()
	}
	return ok
}
