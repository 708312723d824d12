package rule

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/iothub-dev/iothub/internal/fsutil"
)

// StoreFile is the name of the file, in the data directory, that keeps the
// rules created through the API.
const StoreFile = "rules.json"

// storeVersion is the format version of rules.json.
const storeVersion = 1

type storeDoc struct {
	Version int    `json:"version"`
	Rules   []Rule `json:"rules"`
}

// fileStore keeps API-created rules in one JSON file, replaced atomically
// (write a temporary file, fsync, rename, fsync the directory) so that a
// crash leaves either the old or the new file.
type fileStore struct{ path string }

// load returns the stored rules; a missing file is an empty list.
func (s *fileStore) load() ([]Rule, error) {
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("rules store: %w", err)
	}
	var doc storeDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("rules store %s: %w", s.path, err)
	}
	if doc.Version != storeVersion {
		return nil, fmt.Errorf("rules store %s: unsupported version %d", s.path, doc.Version)
	}
	return doc.Rules, nil
}

// save replaces the file with rules.
func (s *fileStore) save(rules []Rule) error {
	if rules == nil {
		rules = []Rule{}
	}
	b, err := json.MarshalIndent(storeDoc{Version: storeVersion, Rules: rules}, "", "  ")
	if err != nil {
		return fmt.Errorf("rules store: %w", err)
	}
	if err := fsutil.WriteFileAtomic(s.path, append(b, '\n')); err != nil {
		return fmt.Errorf("rules store: %w", err)
	}
	return nil
}
