package bridge

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// DeadLetter keeps the records a sink refused for good (a Permanent
// error: a Kafka topic that does not exist, a record too large, a row the
// database refuses, an HTTP 4xx), so that a bad record neither blocks the
// bridge nor vanishes. The Runner calls Write from its sender goroutine.
type DeadLetter interface {
	// Write keeps recs, each refused with errs[i], and returns once they
	// are kept (an error: they are dropped and counted). It must return
	// when ctx is done.
	Write(ctx context.Context, recs []Record, errs []error) error
	// Close releases the dead letter's resources.
	Close() error
}

// DeadRecord is the JSON form of a dead-lettered record: one line of a
// dead-letter file, or the payload of a dead-letter message.
type DeadRecord struct {
	// Bridge is the bridge's name.
	Bridge string `json:"bridge"`
	// Time is when the record was given up.
	Time time.Time `json:"time"`
	// Error is why the sink refused it.
	Error string `json:"error"`
	// Topic is the record's destination (a Kafka topic, a URL, …).
	Topic string `json:"topic"`
	// Key is the record key (as text when it is UTF-8).
	Key string `json:"key,omitempty"`
	// Value is the record value when it is UTF-8 text.
	Value string `json:"value,omitempty"`
	// ValueBase64 is the record value when it is not UTF-8 text.
	ValueBase64 string `json:"value_base64,omitempty"`
	// Headers are the record headers (values as text).
	Headers map[string]string `json:"headers,omitempty"`
	// Timestamp is the record time (Unix milliseconds).
	Timestamp int64 `json:"timestamp"`
}

// NewDeadRecord describes rec, refused with err, as bridge name gave it
// up at now.
func NewDeadRecord(name string, rec *Record, err error, now time.Time) DeadRecord {
	d := DeadRecord{Bridge: name, Time: now.UTC(), Topic: rec.Topic, Key: string(rec.Key)}
	if err != nil {
		d.Error = err.Error()
	}
	if !rec.Time.IsZero() {
		d.Timestamp = rec.Time.UnixMilli()
	}
	if utf8.Valid(rec.Value) {
		d.Value = string(rec.Value)
	} else {
		d.ValueBase64 = base64.StdEncoding.EncodeToString(rec.Value)
	}
	if len(rec.Headers) > 0 {
		d.Headers = make(map[string]string, len(rec.Headers))
		for _, h := range rec.Headers {
			d.Headers[h.Key] = string(h.Value)
		}
	}
	return d
}

// ErrDeadLetterFull is returned by a FileDeadLetter for a batch of dead
// records larger than its size bound on its own.
var ErrDeadLetterFull = errors.New("bridge: dead-letter batch larger than the file's bound")

// FileDeadLetter appends dead records to a file, one JSON object
// (DeadRecord) per line, each Write in one write system call. The file is
// bounded: when a write would take it past MaxBytes it is rotated — renamed
// to <path>.1, replacing the previous one — and a new file is started, so
// the two hold at most twice MaxBytes, the newest records always kept.
// Rotations are counted (Rotations).
type FileDeadLetter struct {
	name     string
	path     string
	maxBytes int64

	log       *slog.Logger
	mu        sync.Mutex
	f         *os.File
	size      int64
	rotations atomic.Uint64
}

// NewFileDeadLetter opens (creating it when needed) the dead-letter file
// at path for bridge name, bounded to maxBytes (default 64 MiB); log
// (default slog.Default()) is told of each rotation.
func NewFileDeadLetter(name, path string, maxBytes int64, log *slog.Logger) (*FileDeadLetter, error) {
	if maxBytes <= 0 {
		maxBytes = 64 << 20
	}
	if log == nil {
		log = slog.Default()
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("dead letter: %w", err)
	}
	d := &FileDeadLetter{name: name, path: path, maxBytes: maxBytes, log: log}
	if err := d.open(); err != nil {
		return nil, err
	}
	return d, nil
}

// open opens (appending) the file at d.path; d.mu is held or d is new.
func (d *FileDeadLetter) open() error {
	f, err := os.OpenFile(d.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("dead letter: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("dead letter: %w", err)
	}
	d.f, d.size = f, st.Size()
	return nil
}

// rotate renames the file to <path>.1 and starts a new one; d.mu is held.
func (d *FileDeadLetter) rotate() error {
	if err := d.f.Close(); err != nil {
		return fmt.Errorf("dead letter: %w", err)
	}
	if err := os.Rename(d.path, d.path+".1"); err != nil {
		_ = d.open() // keep writing where we were
		return fmt.Errorf("dead letter: rotate: %w", err)
	}
	d.rotations.Add(1)
	d.log.Warn("dead-letter file full: rotated, the previous one replaced", "bridge", d.name, "file", d.path+".1",
		"max_bytes", d.maxBytes)
	return d.open()
}

// Rotations returns how many times the file was rotated since it was
// opened.
func (d *FileDeadLetter) Rotations() uint64 { return d.rotations.Load() }

// Write implements DeadLetter.
func (d *FileDeadLetter) Write(_ context.Context, recs []Record, errs []error) error {
	var buf []byte
	now := time.Now()
	for i := range recs {
		b, err := json.Marshal(NewDeadRecord(d.name, &recs[i], errs[i], now))
		if err != nil {
			return fmt.Errorf("dead letter: %w", err)
		}
		buf = append(append(buf, b...), '\n')
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if int64(len(buf)) > d.maxBytes {
		return fmt.Errorf("%w: %d bytes (max %d)", ErrDeadLetterFull, len(buf), d.maxBytes)
	}
	if d.size+int64(len(buf)) > d.maxBytes {
		if err := d.rotate(); err != nil {
			return err
		}
	}
	n, err := d.f.Write(buf)
	d.size += int64(n)
	if err != nil {
		return fmt.Errorf("dead letter: %w", err)
	}
	return nil
}

// Close implements DeadLetter.
func (d *FileDeadLetter) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.f.Close(); err != nil {
		return fmt.Errorf("dead letter: %w", err)
	}
	return nil
}

var _ DeadLetter = (*FileDeadLetter)(nil)
