// Command kfake runs franz-go's in-memory Kafka (kfake) on a TCP port, to
// try the examples' Kafka sides by hand without a Kafka installation:
// producers and consumers (the hub's bridges, franz-go, kcat) speak the
// Kafka protocol to it. The data lives in memory and goes with it.
//
//	go run ./examples/kfake --port 9092 --topics message_state,message_command
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	port := flag.Int("port", 9092, "TCP port on the loopback address")
	topics := flag.String("topics", "", "topics to create, comma-separated (others are created when first used)")
	partitions := flag.Int("partitions", 2, "partitions of each topic")
	flag.Parse()
	var seed []string
	if *topics != "" {
		seed = strings.Split(*topics, ",")
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(*port), kfake.AllowAutoTopicCreation(),
		kfake.SeedTopics(int32(*partitions), seed...))
	if err != nil {
		fmt.Fprintln(os.Stderr, "kfake:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stdout, "kfake listening on %s; Ctrl-C stops it (and forgets everything)\n", c.ListenAddrs()[0])
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	c.Close()
}
