package redis

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	goredis "github.com/redis/go-redis/v9"
)

// go-redis logs through one process-wide logger (its pool's dial
// failures, which the bridge already reports as send errors and status).
// The first sink made routes it to its slog logger at debug level, so
// that nothing is printed unstructured on stderr.
var setLogger sync.Once

type slogAdapter struct{ log *slog.Logger }

func (a slogAdapter) Printf(ctx context.Context, format string, v ...any) {
	a.log.DebugContext(ctx, "go-redis: "+fmt.Sprintf(format, v...))
}

func routeLogs(log *slog.Logger) {
	setLogger.Do(func() { goredis.SetLogger(slogAdapter{log: log.With("component", "go-redis")}) })
}
