package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/iothub-dev/iothub/config"
	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/storage/pebblestore"
)

// storeDir returns the store directory of cfg: storage.dir or
// <data_dir>/store.
func storeDir(cfg config.Config) string {
	if cfg.Storage.Dir != "" {
		return cfg.Storage.Dir
	}
	return filepath.Join(cfg.DataDir, "store")
}

// startStore opens the embedded store and loads it into the broker
// (docs/persistence.md); nothing when storage.enabled is false. A store
// that cannot be opened or read stops the start-up with an error naming
// the directory and what to do: it is never emptied or replaced.
func (a *App) startStore() error {
	if !a.cfg.Storage.Enabled {
		a.log.Warn("storage disabled: persistent sessions, queued and retained messages are lost on restart")
		return nil
	}
	dir := storeDir(a.cfg)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("store directory: %w", err)
	}
	st, err := pebblestore.Open(dir)
	if err != nil {
		return openStoreError(dir, err)
	}
	if _, err := a.broker.OpenStore(st, broker.Durability(a.cfg.Storage.Durability)); err != nil {
		_ = st.Close()
		return corruptStore(dir, err)
	}
	a.store = st
	return nil
}

// openStoreError explains a store that cannot be opened: held by another
// process (another hub on the same data_dir: its lock is taken), or unusable.
func openStoreError(dir string, err error) error {
	if errors.Is(err, syscall.EAGAIN) { // EWOULDBLOCK: the same value where flock exists
		return fmt.Errorf("the store in %s is in use by another process (is another iothub running on the same "+
			"data_dir?): %w; stop it or give this hub its own data_dir. Nothing in the store was changed", dir, err)
	}
	return corruptStore(dir, err)
}

// corruptStore explains a store that cannot be used.
func corruptStore(dir string, err error) error {
	return fmt.Errorf("the store in %s cannot be read: %w; it is corrupt, truncated or not an iothub store, "+
		"and nothing in it was changed. Restore the directory from a backup, or move it aside to start "+
		"with an empty store (its sessions, queued and retained messages are then lost); see docs/persistence.md", dir, err)
}

// closeStore closes the store after the broker stopped.
func (a *App) closeStore() error {
	if a.store == nil {
		return nil
	}
	if err := a.store.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	a.store = nil
	return nil
}
