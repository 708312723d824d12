// Package lock is what the door-lock example's programs share: the lock's
// state message, the backend's signed command, the record the hub writes
// to Kafka, and the checks a lock and the security audit run on a command.
//
// A command carries nonce_str, ts and sign. sign is the hex HMAC-SHA256,
// under the lock's own key, of the other fields sorted by name and joined
// as "action=unlock&nonce_str=…&process_id=…&ts=…". Each lock's key is
// derived here from one secret (Key) so that the demo needs no key store;
// a real fleet provisions a random key per lock and keeps it in the
// backend's and the audit's key store.
package lock

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// State is what a lock publishes to devices/{id}/state (QoS 1), every
// minute and whenever it changes: the last action it carried out, and
// where its bolt is (LockState 1: open, 0: closed). A bolt that is not
// where the action put it (jammed) is an abnormal state.
type State struct {
	ProcessID string  `json:"process_id"`
	Action    string  `json:"action"`
	Battery   float64 `json:"battery"`
	LockState int     `json:"lock_state"`
	Version   float64 `json:"version"`
	ClientID  string  `json:"client_id"`
}

// Abnormal reports whether the bolt is not where the last action put it.
func (s State) Abnormal() bool {
	switch s.Action {
	case "unlock":
		return s.LockState != 1
	case "lock":
		return s.LockState != 0
	}
	return true
}

// Command is what the backend sends to devices/{id}/command (QoS 1).
type Command struct {
	ProcessID string `json:"process_id"`
	Action    string `json:"action"`
	NonceStr  string `json:"nonce_str"`
	TS        int64  `json:"ts"` // Unix seconds
	Sign      string `json:"sign"`
}

// Key returns the signing key of one lock, derived from secret.
func Key(secret, lockID string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(lockID))
	return m.Sum(nil)
}

// NewCommand returns a signed command with a fresh process id and nonce.
func NewCommand(key []byte, action string, now time.Time) (Command, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return Command{}, fmt.Errorf("lock: random: %w", err)
	}
	c := Command{
		ProcessID: fmt.Sprintf("%016d", binary.BigEndian.Uint64(b[:8])%1e16),
		Action:    action,
		NonceStr:  hex.EncodeToString(b[8:]),
		TS:        now.Unix(),
	}
	c.Sign = c.Signature(key)
	return c, nil
}

// Signature is the sign the command should carry under key.
func (c Command) Signature(key []byte) string {
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "action=%s&nonce_str=%s&process_id=%s&ts=%d", c.Action, c.NonceStr, c.ProcessID, c.TS)
	return hex.EncodeToString(m.Sum(nil))
}

// Record is the value of a record the hub's rules write to Kafka
// (docs/kafka.md): message_state for every state, message_command for
// every command a lock acknowledged. ClientID is the publisher (states)
// or the lock that acknowledged (commands); From is the command's sender.
type Record struct {
	ClientID string `json:"client_id"`
	Username string `json:"username"`
	From     string `json:"from,omitempty"`
	Topic    string `json:"topic"`
	Payload  string `json:"payload"` // base64
	QoS      int    `json:"qos"`
	Node     string `json:"node"`
	TS       int64  `json:"ts"` // ms
}

// ParseRecord decodes a record value and its base64 payload.
func ParseRecord(value []byte) (Record, []byte, error) {
	var r Record
	if err := json.Unmarshal(value, &r); err != nil {
		return r, nil, fmt.Errorf("lock: record: %w", err)
	}
	p, err := base64.StdEncoding.DecodeString(r.Payload)
	if err != nil {
		return r, nil, fmt.Errorf("lock: record payload: %w", err)
	}
	return r, p, nil
}
