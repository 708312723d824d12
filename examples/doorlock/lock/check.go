package lock

import (
	"crypto/hmac"
	"sync"
	"time"
)

// What Check finds wrong with a command.
const (
	// BadSignature: sign is not the HMAC of the other fields under the
	// lock's key: the command was altered, or signed for another lock.
	BadSignature = "bad_signature"
	// StaleTS: ts is further than MaxAge from the time of the check.
	StaleTS = "stale_ts"
	// ReplayedNonce: a valid command with this nonce was seen before.
	ReplayedNonce = "replayed_nonce"
	// UnknownAction: neither lock nor unlock.
	UnknownAction = "unknown_action"
)

// Checker checks commands, remembering the nonces of the valid ones for
// MaxAge (an older command fails the ts check anyway, so memory stays
// bounded by the command rate). It is safe for concurrent use.
type Checker struct {
	// Secret derives each lock's key (Key).
	Secret string
	// MaxAge is how far ts may be from the time of the check.
	MaxAge time.Duration

	mu    sync.Mutex
	seen  map[string]time.Time // lock id + nonce → its ts
	swept time.Time
}

// Check returns what is wrong with a command lockID received at time at,
// nothing for a good one. A command whose signature fails does not use up
// its nonce, so a forger cannot block the real one.
func (c *Checker) Check(lockID string, cmd Command, at time.Time) []string {
	var bad []string
	if !hmac.Equal([]byte(cmd.Sign), []byte(cmd.Signature(Key(c.Secret, lockID)))) {
		bad = append(bad, BadSignature)
	}
	if d := at.Sub(time.Unix(cmd.TS, 0)); d > c.MaxAge || d < -c.MaxAge {
		bad = append(bad, StaleTS)
	}
	if cmd.Action != "lock" && cmd.Action != "unlock" {
		bad = append(bad, UnknownAction)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[string]time.Time{}
	}
	c.sweep(at)
	key := lockID + "\x00" + cmd.NonceStr
	if _, dup := c.seen[key]; dup {
		bad = append(bad, ReplayedNonce)
	}
	if len(bad) == 0 {
		c.seen[key] = time.Unix(cmd.TS, 0)
	}
	return bad
}

// sweep forgets, at most once per MaxAge, the nonces too old to matter.
func (c *Checker) sweep(at time.Time) {
	if at.Sub(c.swept) < c.MaxAge {
		return
	}
	c.swept = at
	for k, ts := range c.seen {
		if at.Sub(ts) > c.MaxAge {
			delete(c.seen, k)
		}
	}
}
