package schema

import (
	"fmt"

	"github.com/iothub-dev/iothub/storage/statefile"
)

// StoreFile is the name of the file, in the data directory, that keeps
// the schemas created through the API.
const StoreFile = "schemas.json"

// storeVersion is the format version of schemas.json.
const storeVersion = 1

// fileStore keeps API schemas in one state file (storage/statefile:
// {"version": 1, "schemas": [...]}, replaced atomically, mode 0600).
type fileStore struct{ path string }

func (s *fileStore) file() statefile.File[Schema] {
	return statefile.File[Schema]{Path: s.path, Key: "schemas", Version: storeVersion}
}

func (s *fileStore) load() ([]Schema, error) {
	items, err := s.file().Load()
	if err != nil {
		return nil, fmt.Errorf("schemas store: %w", err)
	}
	return items, nil
}

func (s *fileStore) save(items []Schema) error {
	if err := s.file().Save(items); err != nil {
		return fmt.Errorf("schemas store: %w", err)
	}
	return nil
}
