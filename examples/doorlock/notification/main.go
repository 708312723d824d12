// Command notification tells owners when their door is locked or
// unlocked. It reads the locks' states from Kafka topic message_state in
// its own consumer group, and prints one JSON line per change of a lock's
// bolt (a real service would push it to the owner's phone). The first
// state seen of a lock is remembered, not announced.
//
//	notification --brokers 127.0.0.1:9092 --owners 10083618796833171=alice@example.com
package main

import (
	"context"
	"flag"
	"log/slog"
	"strings"

	"github.com/iothub-dev/iothub/examples/doorlock/lock"
)

func main() {
	brokers, group := lock.ConsumerFlags("notification")
	owners := flag.String("owners", "", "LOCK=OWNER pairs, comma-separated")
	flag.Parse()
	ownerOf := map[string]string{}
	for _, p := range strings.Split(*owners, ",") {
		if id, who, ok := strings.Cut(p, "="); ok {
			ownerOf[id] = who
		}
	}
	bolt := map[string]int{} // lock id → last lock_state seen
	lock.Serve("notification", *brokers, *group, "message_state", func(_ context.Context, log *slog.Logger, value []byte) {
		rec, st, err := lock.Decode[lock.State](value)
		if err != nil {
			log.Warn("skipped a record", "error", err.Error())
			return
		}
		last, known := bolt[rec.ClientID]
		bolt[rec.ClientID] = st.LockState
		if !known || last == st.LockState {
			return
		}
		what := map[int]string{0: "locked", 1: "unlocked"}[st.LockState]
		owner := ownerOf[rec.ClientID]
		if owner == "" {
			owner = "owner of " + rec.ClientID
		}
		log.Info(what, "lock", rec.ClientID, "owner", owner, "action", st.Action, "process_id", st.ProcessID)
	})
}
