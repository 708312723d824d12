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
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/iothub-dev/iothub/examples/doorlock/lock"
)

func main() {
	brokers := flag.String("brokers", "127.0.0.1:9092", "Kafka bootstrap servers, comma-separated")
	group := flag.String("group", "doorlock-notification", "consumer group")
	owners := flag.String("owners", "", "LOCK=OWNER pairs, comma-separated")
	flag.Parse()
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	ownerOf := map[string]string{}
	for _, p := range strings.Split(*owners, ",") {
		if id, who, ok := strings.Cut(p, "="); ok {
			ownerOf[id] = who
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	bolt := map[string]int{} // lock id → last lock_state seen
	err := lock.Consume(ctx, *brokers, *group, "message_state", log, func(value []byte) {
		rec, payload, err := lock.ParseRecord(value)
		var st lock.State
		if err == nil {
			err = json.Unmarshal(payload, &st)
		}
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
	if err != nil {
		fmt.Fprintln(os.Stderr, "notification:", err)
		os.Exit(1)
	}
}
