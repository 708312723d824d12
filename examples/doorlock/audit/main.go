// Command audit is the security audit: it records every command a lock
// acknowledged, read from Kafka topic message_command in its own consumer
// group, and checks it as the lock should have — the signature under the
// lock's key (tampered or forged commands), the age of ts (stale ones),
// the nonce (replayed ones). One JSON line per command: verdict "ok", or
// the findings, at level WARN.
//
//	export LOCK_SECRET=…
//	audit --brokers 127.0.0.1:9092
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/iothub-dev/iothub/examples/doorlock/lock"
)

func main() {
	brokers, group := lock.ConsumerFlags("audit")
	secret := flag.String("secret", os.Getenv("LOCK_SECRET"), "secret the locks' keys derive from (env LOCK_SECRET)")
	maxAge := flag.Duration("max-age", 5*time.Minute, "how far a command's ts may be from the time the lock acknowledged it")
	flag.Parse()
	if *secret == "" {
		fmt.Fprintln(os.Stderr, "audit: need --secret (or LOCK_SECRET)")
		os.Exit(2)
	}
	check := &lock.Checker{Secret: *secret, MaxAge: *maxAge}
	lock.Serve("audit", *brokers, *group, "message_command", func(_ context.Context, log *slog.Logger, value []byte) {
		rec, c, err := lock.Decode[lock.Command](value)
		if err != nil {
			log.Warn("command", "verdict", "unreadable", "error", err.Error())
			return
		}
		// The time the lock acknowledged it, not now: a service that
		// catches up after an outage judges each command by its own time.
		bad := check.Check(rec.ClientID, c, time.UnixMilli(rec.TS))
		attrs := []any{"lock", rec.ClientID, "from", rec.From, "action", c.Action, "nonce", c.NonceStr,
			"ts", c.TS, "acked_at", rec.TS}
		if len(bad) == 0 {
			log.Info("command", append(attrs, "verdict", "ok")...)
			return
		}
		log.Warn("command", append(attrs, "verdict", strings.Join(bad, ","))...)
	})
}
