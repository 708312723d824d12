package users

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"runtime"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// PasswordChecker compares passwords with bcrypt hashes for the stores
// that keep them (this package's Store, the device registry). It
// remembers successful checks for a while, bound to the name and its
// current hash, so that a reconnecting fleet does not pay bcrypt each time
// and a changed password is checked again; and it bounds the bcrypt
// compares that run at once. It is safe for concurrent use.
type PasswordChecker struct {
	ttl time.Duration
	key [32]byte // HMAC key of the remembered checks
	sem chan struct{}
	// compare is bcrypt.CompareHashAndPassword (a test counts its calls).
	compare func(hash, password []byte) error

	mu   sync.Mutex
	seen map[string]checked
}

// checked is a remembered successful check.
type checked struct {
	mac   [sha256.Size]byte
	until time.Time
}

// maxRemembered bounds the remembered checks: past it they are all
// forgotten at once.
const maxRemembered = 100_000

// NewPasswordChecker returns a checker that remembers a successful check
// for ttl (0 or less: never) and runs at most maxConcurrent compares at
// once (0 or less: GOMAXPROCS).
func NewPasswordChecker(ttl time.Duration, maxConcurrent int) *PasswordChecker {
	if maxConcurrent <= 0 {
		maxConcurrent = runtime.GOMAXPROCS(0)
	}
	c := &PasswordChecker{ttl: ttl, sem: make(chan struct{}, maxConcurrent), compare: bcrypt.CompareHashAndPassword,
		seen: map[string]checked{}}
	_, _ = rand.Read(c.key[:])
	return c
}

// Check reports whether password matches hash, the bcrypt hash of name's
// password. It returns false when ctx ends while it waits for its turn.
func (c *PasswordChecker) Check(ctx context.Context, name, hash string, password []byte) bool {
	mac := c.sum(name, hash, password)
	if c.remembered(name, mac) {
		return true
	}
	if !c.acquire(ctx) {
		return false
	}
	defer c.release()
	if c.remembered(name, mac) { // another connection may have checked it meanwhile
		return true
	}
	if c.compare([]byte(hash), password) != nil {
		return false
	}
	if c.ttl > 0 {
		c.mu.Lock()
		if len(c.seen) >= maxRemembered {
			clear(c.seen)
		}
		c.seen[name] = checked{mac: mac, until: time.Now().Add(c.ttl)}
		c.mu.Unlock()
	}
	return true
}

// Compare runs one compare of password with hash in its turn, as Check
// does, and remembers nothing (a compare that only spends the time a
// check would).
func (c *PasswordChecker) Compare(ctx context.Context, hash, password []byte) error {
	if !c.acquire(ctx) {
		return ctx.Err()
	}
	defer c.release()
	return c.compare(hash, password)
}

// Forget drops every remembered check.
func (c *PasswordChecker) Forget() {
	c.mu.Lock()
	clear(c.seen)
	c.mu.Unlock()
}

// acquire waits for a compare's turn; false when ctx ends first.
func (c *PasswordChecker) acquire(ctx context.Context) bool {
	select {
	case c.sem <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (c *PasswordChecker) release() { <-c.sem }

// sum binds the password to the name and its current hash.
func (c *PasswordChecker) sum(name, hash string, password []byte) [sha256.Size]byte {
	h := hmac.New(sha256.New, c.key[:])
	for _, p := range [][]byte{[]byte(name), {0}, []byte(hash), {0}, password} {
		h.Write(p)
	}
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

func (c *PasswordChecker) remembered(name string, mac [sha256.Size]byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.seen[name]
	return ok && hmac.Equal(e.mac[:], mac[:]) && time.Now().Before(e.until)
}
