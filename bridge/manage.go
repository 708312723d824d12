package bridge

import "errors"

// Errors of bridge management (create, update, delete, enable, disable a
// bridge by name), shared by the bridge manager that returns them and the
// HTTP API that maps them to status codes.
var (
	// ErrNotFound means no bridge has the name.
	ErrNotFound = errors.New("bridge: not found")
	// ErrExists means a bridge with the name already exists.
	ErrExists = errors.New("bridge: already exists")
	// ErrReadOnly means the bridge comes from the configuration file: change
	// the file and reload or restart instead.
	ErrReadOnly = errors.New("bridge: defined in the configuration file (read-only)")
	// ErrInvalid means a definition was refused; the message names the key.
	ErrInvalid = errors.New("bridge: invalid definition")
)
