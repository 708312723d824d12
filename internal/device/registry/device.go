package registry

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/iothub-dev/iothub/internal/device/thing"
)

// The registry's errors.
var (
	// ErrNotFound: no device has the id.
	ErrNotFound = errors.New("registry: device not found")
	// ErrExists: a device with the id exists (create).
	ErrExists = errors.New("registry: device exists")
	// ErrInvalid: a field of a device is refused; the message names it.
	ErrInvalid = errors.New("registry: invalid device")
)

// Device is one registered device (an AWS IoT thing): its id is its MQTT
// client id.
type Device struct {
	// ID is the client id, and the thing name of its shadows and jobs.
	ID string `json:"id"`
	// Attributes are free key-value pairs (model, site, owner…).
	Attributes map[string]string `json:"attributes,omitempty"`
	// Groups are tags; a job may target every device of a group.
	Groups []string `json:"groups,omitempty"`
	// Enabled: a disabled device is refused at CONNECT.
	Enabled bool `json:"enabled"`
	// PasswordHash is the bcrypt hash of the device's MQTT password.
	PasswordHash string `json:"password_hash,omitempty"`
	// CertFingerprint is the SHA-256 (lowercase hex) of the device's
	// client certificate.
	CertFingerprint string `json:"cert_fingerprint,omitempty"`
	// Version counts changes (AWS's thing version).
	Version int64 `json:"version"`
	// CreatedAt and UpdatedAt are the times of creation and last change.
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// HasCredentials reports whether the device has a password or a
// certificate registered: such a device can only connect with them.
func (d *Device) HasCredentials() bool { return d.PasswordHash != "" || d.CertFingerprint != "" }

// Status is what the hub saw of a device's connection.
type Status struct {
	// Connected is true between the device's CONNECT and its disconnection.
	Connected bool `json:"connected"`
	// Node is the hub node that holds (or last held) its connection.
	Node string `json:"node,omitempty"`
	// LastSeen is the time of its last connection or disconnection.
	LastSeen time.Time `json:"last_seen,omitzero"`
}

// Info is a device with its status.
type Info struct {
	Device
	Status
}

// Spec creates a device or changes one: nil fields are left as they are
// (create: empty, enabled).
type Spec struct {
	ID         string             `json:"id"`
	Attributes *map[string]string `json:"attributes,omitempty"`
	Groups     *[]string          `json:"groups,omitempty"`
	Enabled    *bool              `json:"enabled,omitempty"`
	// Password sets the MQTT password (hashed with bcrypt; "" removes it).
	Password *string `json:"password,omitempty"`
	// PasswordHash sets a bcrypt hash made elsewhere ("" removes it).
	PasswordHash *string `json:"password_hash,omitempty"`
	// CertFingerprint sets the certificate's SHA-256, hex, colons allowed
	// ("" removes it).
	CertFingerprint *string `json:"cert_fingerprint,omitempty"`
}

// Limits of a device record.
const (
	maxAttributes = 64
	maxGroups     = 32
	maxValueLen   = 1024
)

// apply sets the fields of s on d; cost is the bcrypt cost of a password.
func (s *Spec) apply(d *Device, cost int) error {
	if s.Attributes != nil {
		if err := checkAttributes(*s.Attributes); err != nil {
			return err
		}
		d.Attributes = maps.Clone(*s.Attributes)
	}
	if s.Groups != nil {
		g, err := normGroups(*s.Groups)
		if err != nil {
			return err
		}
		d.Groups = g
	}
	if s.Enabled != nil {
		d.Enabled = *s.Enabled
	}
	if err := s.applyCredentials(d, cost); err != nil {
		return err
	}
	return nil
}

// applyCredentials sets the password hash and certificate fingerprint.
func (s *Spec) applyCredentials(d *Device, cost int) error {
	switch {
	case s.Password != nil && s.PasswordHash != nil:
		return fmt.Errorf("%w: password and password_hash: give one", ErrInvalid)
	case s.Password != nil && *s.Password == "":
		d.PasswordHash = ""
	case s.Password != nil:
		h, err := bcrypt.GenerateFromPassword([]byte(*s.Password), cost)
		if err != nil {
			return fmt.Errorf("%w: password: %w", ErrInvalid, err)
		}
		d.PasswordHash = string(h)
	case s.PasswordHash != nil:
		if *s.PasswordHash != "" {
			if _, err := bcrypt.Cost([]byte(*s.PasswordHash)); err != nil {
				return fmt.Errorf("%w: password_hash: not a bcrypt hash", ErrInvalid)
			}
		}
		d.PasswordHash = *s.PasswordHash
	}
	if s.CertFingerprint != nil {
		f, err := NormFingerprint(*s.CertFingerprint)
		if err != nil {
			return err
		}
		d.CertFingerprint = f
	}
	return nil
}

// NormFingerprint returns a SHA-256 fingerprint as 64 lowercase hex
// digits; colons and spaces are dropped ("" stays "").
func NormFingerprint(f string) (string, error) {
	f = strings.ToLower(strings.NewReplacer(":", "", " ", "").Replace(f))
	if f == "" {
		return "", nil
	}
	if len(f) != 64 || strings.Trim(f, "0123456789abcdef") != "" {
		return "", fmt.Errorf("%w: cert_fingerprint: want the certificate's SHA-256 as 64 hex digits", ErrInvalid)
	}
	return f, nil
}

func checkAttributes(a map[string]string) error {
	if len(a) > maxAttributes {
		return fmt.Errorf("%w: attributes: more than %d", ErrInvalid, maxAttributes)
	}
	for k, v := range a {
		if k == "" || len(k) > 128 || strings.ContainsAny(k, "=\n") || len(v) > maxValueLen {
			return fmt.Errorf("%w: attributes: key %q: 1 to 128 bytes without '=', values up to %d bytes", ErrInvalid, k, maxValueLen)
		}
	}
	return nil
}

// normGroups checks group names (each a thing-style name) and sorts them
// without duplicates.
func normGroups(groups []string) ([]string, error) {
	if len(groups) > maxGroups {
		return nil, fmt.Errorf("%w: groups: more than %d", ErrInvalid, maxGroups)
	}
	out := slices.Clone(groups)
	for _, g := range out {
		if err := thing.ValidName(g, thing.MaxNameLen); err != nil {
			return nil, fmt.Errorf("%w: groups: %w", ErrInvalid, err)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
