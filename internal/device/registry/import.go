package registry

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ImportResult says what an import did.
type ImportResult struct {
	Created int `json:"created"`
	Updated int `json:"updated"`
	// Failed lists the rows that were refused; the others were applied.
	Failed []ImportError `json:"failed"`
}

// ImportError is one refused row.
type ImportError struct {
	// Line is the 1-based line of the row (CSV: the header is line 1).
	Line  int    `json:"line"`
	ID    string `json:"id,omitempty"`
	Error string `json:"error"`
}

// maxImportErrors bounds the errors listed (the count goes on).
const maxImportErrors = 1000

// Import reads devices as JSON lines (format "jsonl": one Spec object a
// line) or CSV (format "csv": a header row naming the columns id,
// enabled, groups (separated by ';'), password, password_hash,
// cert_fingerprint and attr.NAME for attributes), and creates each one,
// or updates it when it exists and upsert is set. A bad row is reported
// and skipped; the others are applied.
func (r *Registry) Import(in io.Reader, format string, upsert bool) (ImportResult, error) {
	var res ImportResult
	add := func(line int, s Spec, err error) {
		if err == nil {
			err = r.importOne(s, upsert, &res)
		}
		if err != nil && len(res.Failed) < maxImportErrors {
			res.Failed = append(res.Failed, ImportError{Line: line, ID: s.ID, Error: err.Error()})
		}
	}
	switch format {
	case "jsonl", "ndjson", "json":
		return res, importJSONLines(in, add)
	case "csv":
		return res, importCSV(in, add)
	}
	return res, fmt.Errorf("%w: format %q: want csv or jsonl", ErrInvalid, format)
}

func (r *Registry) importOne(s Spec, upsert bool, res *ImportResult) error {
	_, err := r.Create(s)
	switch {
	case err == nil:
		res.Created++
		return nil
	case errors.Is(err, ErrExists) && upsert:
		if _, err := r.Update(s); err != nil {
			return err
		}
		res.Updated++
		return nil
	}
	return err
}

// importJSONLines calls add for each non-empty line.
func importJSONLines(in io.Reader, add func(int, Spec, error)) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var s Spec
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		err := dec.Decode(&s)
		if err != nil {
			err = fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		add(line, s, err)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("registry: import: %w", err)
	}
	return nil
}

// importCSV calls add for each row after the header.
func importCSV(in io.Reader, add func(int, Spec, error)) error {
	cr := csv.NewReader(in)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if err != nil {
		return fmt.Errorf("%w: csv header: %w", ErrInvalid, err)
	}
	for i, h := range header {
		header[i] = strings.TrimSpace(h)
		if !knownColumn(header[i]) {
			return fmt.Errorf("%w: csv header: unknown column %q (id, enabled, groups, password, password_hash, cert_fingerprint, attr.NAME)", ErrInvalid, h)
		}
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			// FieldPos would panic: a refused row has no fields.
			line := 0
			if pe := (*csv.ParseError)(nil); errors.As(err, &pe) {
				line = pe.StartLine
			}
			add(line, Spec{}, fmt.Errorf("%w: %w", ErrInvalid, err))
			continue
		}
		line, _ := cr.FieldPos(0)
		s, err := specFromCSV(header, rec)
		add(line, s, err)
	}
}

func knownColumn(h string) bool {
	switch h {
	case "id", "enabled", "groups", "password", "password_hash", "cert_fingerprint":
		return true
	}
	return strings.HasPrefix(h, "attr.") && len(h) > len("attr.")
}

// specFromCSV builds a Spec from one row; empty cells are left unset.
func specFromCSV(header, rec []string) (Spec, error) {
	var s Spec
	attrs := map[string]string{}
	for i, v := range rec {
		if i >= len(header) {
			return s, fmt.Errorf("%w: more cells than columns", ErrInvalid)
		}
		v = strings.TrimSpace(v)
		col := header[i]
		if v == "" && col != "id" {
			continue
		}
		switch col {
		case "id":
			s.ID = v
		case "enabled":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return s, fmt.Errorf("%w: enabled %q: want true or false", ErrInvalid, v)
			}
			s.Enabled = &b
		case "groups":
			g := strings.Split(v, ";")
			s.Groups = &g
		case "password":
			s.Password = &v
		case "password_hash":
			s.PasswordHash = &v
		case "cert_fingerprint":
			s.CertFingerprint = &v
		default:
			attrs[strings.TrimPrefix(col, "attr.")] = v
		}
	}
	if len(attrs) > 0 {
		s.Attributes = &attrs
	}
	return s, nil
}
