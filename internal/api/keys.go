package api

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/iothub-dev/iothub/storage/statefile"
)

// KeyFile is the name of the key file in the data directory.
const KeyFile = "apikeys.json"

// keyPrefix starts every key the store creates, so that a leaked key is
// recognisable (secret scanners) and a key is not mistaken for a password.
const keyPrefix = "ihk_"

// Errors of the key store.
var (
	// ErrKeyNotFound: no key has that id.
	ErrKeyNotFound = errors.New("api: no API key with this id")
	// ErrBadKeyFile: the key file is not a key file.
	ErrBadKeyFile = errors.New("api: malformed API key file")
)

// KeyInfo describes a stored key; the key itself is never stored, only
// its SHA-256.
type KeyInfo struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	// Hash is "sha256:" and the hex SHA-256 of the key.
	Hash string `json:"hash"`
	// Role is RoleViewer for a read-only key, empty for a key that may do
	// everything.
	Role string `json:"role,omitempty"`
}

// keysKey and keysVersion describe the key file:
// {"version": 1, "keys": [KeyInfo, ...]}.
const (
	keysKey     = "keys"
	keysVersion = 1
)

// KeyStore holds the API keys, hashed, in a JSON file written atomically
// (temporary file, fsync, rename). It re-reads the file when another
// process (`iothub apikey create|revoke`) replaced it, so that keys
// created or revoked from the command line take effect on the next
// request. Safe for concurrent use.
//
// Keys are 32 random bytes, so a plain SHA-256 is enough to store them:
// there is nothing to brute-force that a slow password hash would
// protect, and checking a key costs one hash per request.
type KeyStore struct {
	path string

	mu        sync.Mutex
	stat      fs.FileInfo // of the file last read; nil: none
	keys      []KeyInfo
	byHash    map[[sha256.Size]byte]string // → id
	bootstrap *[sha256.Size]byte
}

// OpenKeyStore reads the key file at path; a missing file is an empty
// store (Exists reports it).
func OpenKeyStore(path string) (*KeyStore, error) {
	k := &KeyStore{path: path}
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.reloadLocked(); err != nil {
		return nil, err
	}
	return k, nil
}

// Path returns the key file's path.
func (k *KeyStore) Path() string { return k.path }

// Exists reports whether the key file exists.
func (k *KeyStore) Exists() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.stat != nil
}

// SetBootstrap accepts key besides the stored ones (api.key); empty: none.
func (k *KeyStore) SetBootstrap(key string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if key == "" {
		k.bootstrap = nil
		return
	}
	h := sha256.Sum256([]byte(key))
	k.bootstrap = &h
}

// Check reports whether key is a stored key or the bootstrap key, and
// returns its id ("bootstrap" for the latter).
func (k *KeyStore) Check(key string) (string, bool) {
	if key == "" {
		return "", false
	}
	h := sha256.Sum256([]byte(key))
	k.mu.Lock()
	defer k.mu.Unlock()
	if st, err := os.Stat(k.path); err == nil && (k.stat == nil || !sameVersion(st, k.stat)) || err != nil && k.stat != nil {
		_ = k.reloadLocked() // a bad file keeps the keys read before
	}
	if k.bootstrap != nil && subtle.ConstantTimeCompare(h[:], k.bootstrap[:]) == 1 {
		return "bootstrap", true
	}
	id, ok := k.byHash[h]
	return id, ok
}

// sameVersion reports whether two stats are of the same version of the
// file: every write renames a new file into place.
func sameVersion(a, b fs.FileInfo) bool {
	return os.SameFile(a, b) && a.ModTime().Equal(b.ModTime()) && a.Size() == b.Size()
}

// List returns the stored keys (without secrets), oldest first.
func (k *KeyStore) List() []KeyInfo {
	k.mu.Lock()
	defer k.mu.Unlock()
	_ = k.reloadLocked()
	return slices.Clone(k.keys)
}

// Role returns the role of the key with id ("" for the bootstrap key, an
// unknown id, or a key that may do everything).
func (k *KeyStore) Role(id string) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, ki := range k.keys {
		if ki.ID == id {
			return ki.Role
		}
	}
	return ""
}

// Create makes a new key named name that may do everything, stores its
// hash and returns the key: the only time it is ever seen.
func (k *KeyStore) Create(name string) (string, KeyInfo, error) {
	return k.CreateWithRole(name, "")
}

// CreateWithRole is Create for a key of role ("" or RoleViewer).
func (k *KeyStore) CreateWithRole(name, role string) (string, KeyInfo, error) {
	if role != "" && role != RoleViewer {
		return "", KeyInfo{}, fmt.Errorf("api key: role %q: want %q or none", role, RoleViewer)
	}
	var secret [32]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return "", KeyInfo{}, fmt.Errorf("api key: %w", err)
	}
	var id [4]byte
	_, _ = rand.Read(id[:])
	key := keyPrefix + base64.RawURLEncoding.EncodeToString(secret[:])
	h := sha256.Sum256([]byte(key))
	info := KeyInfo{ID: hex.EncodeToString(id[:]), Name: name, CreatedAt: time.Now().UTC().Truncate(time.Second),
		Hash: "sha256:" + hex.EncodeToString(h[:]), Role: role}
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.reloadLocked(); err != nil {
		return "", KeyInfo{}, err
	}
	keys := append(slices.Clone(k.keys), info)
	if err := k.writeLocked(keys); err != nil {
		return "", KeyInfo{}, err
	}
	return key, info, nil
}

// Revoke deletes the key with id; it returns ErrKeyNotFound if none.
func (k *KeyStore) Revoke(id string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.reloadLocked(); err != nil {
		return err
	}
	i := slices.IndexFunc(k.keys, func(ki KeyInfo) bool { return ki.ID == id })
	if i < 0 {
		return fmt.Errorf("%q: %w", id, ErrKeyNotFound)
	}
	return k.writeLocked(slices.Delete(slices.Clone(k.keys), i, i+1))
}

// reloadLocked reads the file (missing: no keys).
func (k *KeyStore) reloadLocked() error {
	st, err := os.Stat(k.path)
	if errors.Is(err, fs.ErrNotExist) {
		k.stat, k.keys, k.byHash = nil, nil, nil
		return nil
	}
	if err != nil {
		return fmt.Errorf("api keys: %w", err)
	}
	data, err := os.ReadFile(k.path)
	if err != nil {
		return fmt.Errorf("api keys: %w", err)
	}
	keys, byHash, err := parseKeyFile(data)
	if err != nil {
		return fmt.Errorf("api keys %s: %w", k.path, err)
	}
	k.stat, k.keys, k.byHash = st, keys, byHash
	return nil
}

// parseKeyFile decodes and checks a key file.
func parseKeyFile(data []byte) ([]KeyInfo, map[[sha256.Size]byte]string, error) {
	keys, err := statefile.Decode[KeyInfo](data, keysKey, keysVersion)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrBadKeyFile, err)
	}
	byHash := make(map[[sha256.Size]byte]string, len(keys))
	for _, ki := range keys {
		var h [sha256.Size]byte
		raw, err := hex.DecodeString(stripPrefix(ki.Hash, "sha256:"))
		if err != nil || len(raw) != sha256.Size || ki.ID == "" {
			return nil, nil, fmt.Errorf("%w: key %q: bad id or hash", ErrBadKeyFile, ki.ID)
		}
		copy(h[:], raw)
		byHash[h] = ki.ID
	}
	return keys, byHash, nil
}

func stripPrefix(s, p string) string {
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return "!" // not a hash
}

// writeLocked replaces the file atomically with keys and reads it back.
func (k *KeyStore) writeLocked(keys []KeyInfo) error {
	f := statefile.File[KeyInfo]{Path: k.path, Key: keysKey, Version: keysVersion}
	if err := f.Save(keys); err != nil {
		return fmt.Errorf("api keys: %w", err)
	}
	return k.reloadLocked()
}
