package auth

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/iothub-dev/iothub/storage/statefile"
)

// BanFile is the name of the file, in the data directory, that keeps the
// bans added at run time (through the HTTP API).
const BanFile = "bans.json"

// banFileVersion is the format version of the ban file.
const banFileVersion = 1

// banFileKey is the name of the list in the ban file:
// {"version": 1, "bans": [Ban, ...]}.
const banFileKey = "bans"

// DecodeBans parses the content of a ban file and checks every ban as Add
// does. It never panics; an error names the first bad ban by its index.
func DecodeBans(data []byte) ([]Ban, error) {
	bans, err := statefile.Decode[Ban](data, banFileKey, banFileVersion)
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	for i, ban := range bans {
		if _, err := checkBan(ban); err != nil {
			return nil, fmt.Errorf("bans.%d: %w", i, err)
		}
	}
	return bans, nil
}

// EncodeBans returns the content of a ban file holding bans.
func EncodeBans(bans []Ban) ([]byte, error) {
	b, err := statefile.Encode(bans, banFileKey, banFileVersion)
	if err != nil {
		return nil, fmt.Errorf("encode bans: %w", err)
	}
	return b, nil
}

// LoadBanList returns a ban list kept in the file at path: the bans of the
// file that have not expired are added as run-time bans, and every later
// change of a run-time ban (Add, Remove) rewrites the file. A missing file
// is an empty list; an unreadable or corrupt one is an error naming it.
func LoadBanList(path string) (*BanList, error) {
	s := &banStore{path: path}
	bans, err := s.load()
	if err != nil {
		return nil, err
	}
	b := NewBanList()
	now := b.now()
	for _, ban := range bans {
		if expired(ban, now) {
			continue
		}
		if err := b.add(ban, originRunTime); err != nil { // checked by DecodeBans: cannot fail
			return nil, fmt.Errorf("ban file %s: %w", path, err)
		}
	}
	b.store = s
	return b, nil
}

// banStore keeps the run-time bans in one JSON file, replaced atomically
// (write a temporary file, fsync, rename, fsync the directory) so that a
// crash leaves either the old or the new file. The file's mode is 0600.
type banStore struct{ path string }

// load returns the bans of the file; a missing file is an empty list.
func (s *banStore) load() ([]Ban, error) {
	data, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ban file: %w", err)
	}
	bans, err := DecodeBans(data)
	if err != nil {
		return nil, fmt.Errorf("ban file %s: %w", s.path, err)
	}
	return bans, nil
}

// save replaces the file with bans.
func (s *banStore) save(bans []Ban) error {
	data, err := EncodeBans(bans)
	if err != nil {
		return fmt.Errorf("ban file %s: %w", s.path, err)
	}
	if err := statefile.WriteAtomic(s.path, data); err != nil {
		return fmt.Errorf("ban file %s: %w", s.path, err)
	}
	return nil
}
