package ota

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/iothub-dev/iothub/internal/device/thing"
	"github.com/iothub-dev/iothub/storage"
)

// The errors of the firmware store.
var (
	// ErrNotFound: no file has the name.
	ErrNotFound = errors.New("ota: firmware not found")
	// ErrInvalid: a bad name, or a file over the size limit.
	ErrInvalid = errors.New("ota: invalid firmware")
	// ErrForbidden: a download URL with a bad or expired signature.
	ErrForbidden = errors.New("ota: bad or expired signature")
)

// File describes one firmware file.
type File struct {
	Name       string    `json:"name"`
	Size       int64     `json:"size"`
	SHA256     string    `json:"sha256"`
	UploadedAt time.Time `json:"uploaded_at"`
	// URL is a signed download URL, set when asked for.
	URL       string     `json:"url,omitempty"`
	ExpiresAt *time.Time `json:"url_expires_at,omitempty"`
}

// Options configure a Store.
type Options struct {
	// Dir holds the files (created if missing).
	Dir string
	// Meta keeps the files' metadata and the signing key.
	Meta storage.Store
	// BaseURL is the HTTP API's address as devices reach it.
	BaseURL string
	// TTL is how long a signed URL is valid (default 1h).
	TTL time.Duration
	// MaxFileBytes bounds an upload.
	MaxFileBytes int64
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Store is the firmware store.
type Store struct {
	o   Options
	key []byte
}

const (
	prefixFile = "ota/f/"
	keyName    = "ota/key"
)

// Open opens the store, creating the directory and the signing key.
func Open(o Options) (*Store, error) {
	if o.TTL <= 0 {
		o.TTL = time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if err := os.MkdirAll(o.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("ota: %w", err)
	}
	key, err := o.Meta.Get([]byte(keyName))
	if errors.Is(err, storage.ErrNotFound) {
		key = make([]byte, 32)
		_, _ = rand.Read(key)
		var b storage.Batch
		b.Put([]byte(keyName), key)
		err = o.Meta.Apply(&b, true)
	}
	if err != nil {
		return nil, fmt.Errorf("ota: signing key: %w", err)
	}
	return &Store{o: o, key: key}, nil
}

// checkName accepts names that are one path segment and one topic level.
func checkName(name string) error {
	if err := thing.ValidName(name, 128); err != nil || name == "." || name == ".." || strings.ContainsAny(name, `\?%"{}`) {
		return fmt.Errorf("%w: name %q: 1 to 128 bytes, no '/', '\\', '?', '%%', '\"', braces or spaces", ErrInvalid, name)
	}
	return nil
}

// Put stores the file name from r, replacing one with that name.
func (s *Store) Put(name string, r io.Reader) (File, error) {
	if err := checkName(name); err != nil {
		return File{}, err
	}
	tmp, err := os.CreateTemp(s.o.Dir, ".upload-*")
	if err != nil {
		return File{}, fmt.Errorf("ota: %w", err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(r, s.o.MaxFileBytes+1))
	if err == nil && n > s.o.MaxFileBytes {
		err = fmt.Errorf("%w: over devices.ota.max_file_bytes (%d)", ErrInvalid, s.o.MaxFileBytes)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return File{}, fmt.Errorf("ota: upload %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(s.o.Dir, name)); err != nil {
		return File{}, fmt.Errorf("ota: %w", err)
	}
	f := File{Name: name, Size: n, SHA256: hex.EncodeToString(h.Sum(nil)), UploadedAt: s.o.Now().UTC()}
	rec, _ := json.Marshal(f)
	var b storage.Batch
	b.Put([]byte(prefixFile+name), rec)
	if err := s.o.Meta.Apply(&b, true); err != nil {
		return File{}, fmt.Errorf("ota: %w", err)
	}
	return f, nil
}

// Get returns the file's description with a signed URL.
func (s *Store) Get(name string) (File, error) {
	if checkName(name) != nil {
		return File{}, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	b, err := s.o.Meta.Get([]byte(prefixFile + name))
	if errors.Is(err, storage.ErrNotFound) {
		return File{}, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	if err != nil {
		return File{}, fmt.Errorf("ota: %w", err)
	}
	var f File
	if err := json.Unmarshal(b, &f); err != nil {
		return File{}, fmt.Errorf("ota: corrupt record of %q: %w", name, err)
	}
	exp := s.o.Now().Add(s.o.TTL).UTC().Truncate(time.Second)
	f.URL, f.ExpiresAt = s.signedURL(name, exp), &exp
	return f, nil
}

// List returns the files, by name.
func (s *Store) List() ([]File, error) {
	var out []File
	err := s.o.Meta.Scan([]byte(prefixFile), func(_, v []byte) error {
		var f File
		if json.Unmarshal(v, &f) == nil {
			out = append(out, f)
		}
		return nil
	})
	return out, err
}

// Delete removes a file; downloads under way finish.
func (s *Store) Delete(name string) error {
	if _, err := s.Get(name); err != nil {
		return err
	}
	var b storage.Batch
	b.Delete([]byte(prefixFile + name))
	if err := s.o.Meta.Apply(&b, true); err != nil {
		return fmt.Errorf("ota: %w", err)
	}
	if err := os.Remove(filepath.Join(s.o.Dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("ota: %w", err)
	}
	return nil
}

func (s *Store) sign(name string, exp int64) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(name + "\n" + strconv.FormatInt(exp, 10)))
	return hex.EncodeToString(m.Sum(nil))
}

func (s *Store) signedURL(name string, exp time.Time) string {
	return strings.TrimRight(s.o.BaseURL, "/") + "/ota/" + url.PathEscape(name) +
		"?expires=" + strconv.FormatInt(exp.Unix(), 10) + "&sig=" + s.sign(name, exp.Unix())
}

// Open checks a download's signature and opens the file; the caller
// closes it.
func (s *Store) Open(name, expires, sig string) (*os.File, File, error) {
	exp, err := strconv.ParseInt(expires, 10, 64)
	if err != nil || s.o.Now().Unix() > exp || !hmac.Equal([]byte(sig), []byte(s.sign(name, exp))) {
		return nil, File{}, ErrForbidden
	}
	f, err := s.Get(name)
	if err != nil {
		return nil, File{}, err
	}
	fh, err := os.Open(filepath.Join(s.o.Dir, name))
	if err != nil {
		return nil, File{}, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	return fh, f, nil
}

// ServeDownload answers GET /ota/{name}?expires=&sig=: the file, with
// Range support and its SHA-256 in X-Checksum-SHA256.
func (s *Store) ServeDownload(w http.ResponseWriter, r *http.Request, name string) error {
	q := r.URL.Query()
	fh, f, err := s.Open(name, q.Get("expires"), q.Get("sig"))
	if err != nil {
		return err
	}
	defer func() { _ = fh.Close() }() // read-only: nothing to lose on close
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("X-Checksum-SHA256", f.SHA256)
	http.ServeContent(w, r, name, f.UploadedAt, fh)
	return nil
}

var placeholder = regexp.MustCompile(`\$\{iothub:firmware-(url|sha256|size):([^}"\\]+)\}`)

// Render replaces the firmware placeholders of a job document; an
// unknown file leaves its placeholder as it is.
func (s *Store) Render(doc json.RawMessage) json.RawMessage {
	if !placeholder.Match(doc) {
		return doc
	}
	return placeholder.ReplaceAllFunc(doc, func(m []byte) []byte {
		sub := placeholder.FindSubmatch(m)
		f, err := s.Get(string(sub[2]))
		if err != nil {
			return m
		}
		switch string(sub[1]) {
		case "url":
			return []byte(f.URL)
		case "sha256":
			return []byte(f.SHA256)
		}
		return []byte(strconv.FormatInt(f.Size, 10))
	})
}
