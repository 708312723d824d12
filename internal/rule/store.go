package rule

import (
	"fmt"

	"github.com/iothub-dev/iothub/storage/statefile"
)

// StoreFile is the name of the file, in the data directory, that keeps the
// rules created through the API.
const StoreFile = "rules.json"

// storeVersion is the format version of rules.json.
const storeVersion = 1

// fileStore keeps API-created rules in one JSON file, replaced atomically
// (write a temporary file, fsync, rename, fsync the directory) so that a
// crash leaves either the old or the new file.
type fileStore struct{ path string }

// file is rules.json: {"version": 1, "rules": [Rule, ...]}.
func (s *fileStore) file() statefile.File[Rule] {
	return statefile.File[Rule]{Path: s.path, Key: "rules", Version: storeVersion}
}

// load returns the stored rules; a missing file is an empty list.
func (s *fileStore) load() ([]Rule, error) {
	rules, err := s.file().Load()
	if err != nil {
		return nil, fmt.Errorf("rules store: %w", err)
	}
	return rules, nil
}

// save replaces the file with rules.
func (s *fileStore) save(rules []Rule) error {
	if err := s.file().Save(rules); err != nil {
		return fmt.Errorf("rules store: %w", err)
	}
	return nil
}
