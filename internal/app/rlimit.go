package app

import (
	"log/slog"
	"math"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// fileCap is the most MQTT connections the open-files limit leaves room
// for once fileReserve is set aside (0: unknown). raiseFileLimit sets it.
var fileCap atomic.Int64

// fileReserve is how many open files the hub keeps for everything but MQTT
// connections — the HTTP API and dashboard, the store, bridges, the
// cluster — when mqtt.max_connections is 0: a quarter of the limit, at most
// 512. Without it a connection storm takes every descriptor and the API
// cannot accept the operator who comes to look.
func fileReserve(limit uint64) uint64 { return min(limit/4, 512) }

// connectionRoom is fileCap for an open-files limit: the limit less
// fileReserve, or 0 (no cap) for a limit too large to be a real bound
// (RLIM_INFINITY).
func connectionRoom(limit uint64) int64 {
	if limit > math.MaxInt32 {
		return 0
	}
	return int64(limit - fileReserve(limit))
}

// raiseFileLimit raises the soft open-files limit to the hard limit: each
// connection is a file descriptor, and the default soft limit (1024 on many
// systems) would cap the hub far below what the machine can hold. It sets
// fileCap from the limit it ends with.
func raiseFileLimit(log *slog.Logger) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		log.Warn("cannot read the open-files limit", "error", err)
		return
	}
	defer func() { fileCap.Store(connectionRoom(lim.Cur)) }()
	if lim.Cur >= lim.Max {
		log.Info("open-files limit", "soft", lim.Cur, "hard", lim.Max)
		return
	}
	old := lim.Cur
	lim.Cur = lim.Max
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		lim.Cur = old
		log.Warn("cannot raise the open-files limit", "soft", old, "hard", lim.Max, "error", err)
		return
	}
	log.Info("raised the open-files limit", "from", old, "to", lim.Max)
}

// maxConnections is the hub-wide MQTT connection cap for configured
// (mqtt.max_connections): configured itself, or with 0 the room the
// open-files limit leaves (fileCap).
func maxConnections(configured int) int {
	if configured == 0 {
		return int(fileCap.Load())
	}
	return configured
}
