package app

import (
	"log/slog"

	"golang.org/x/sys/unix"
)

// raiseFileLimit raises the soft open-files limit to the hard limit: each
// connection is a file descriptor, and the default soft limit (1024 on many
// systems) would cap the hub far below what the machine can hold.
func raiseFileLimit(log *slog.Logger) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		log.Warn("cannot read the open-files limit", "error", err)
		return
	}
	if lim.Cur >= lim.Max {
		log.Info("open-files limit", "soft", lim.Cur, "hard", lim.Max)
		return
	}
	old := lim.Cur
	lim.Cur = lim.Max
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		log.Warn("cannot raise the open-files limit", "soft", old, "hard", lim.Max, "error", err)
		return
	}
	log.Info("raised the open-files limit", "from", old, "to", lim.Max)
}
