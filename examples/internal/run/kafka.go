package run

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Kafka is where the demo's Kafka is: kfake started here, or a real
// cluster named on the command line.
type Kafka struct {
	// Addr is the bootstrap address, host:port.
	Addr string
	c    *kfake.Cluster
}

// StartKafka starts kfake (one broker on a free loopback port) with
// topics of partitions partitions each, unless addr names a Kafka to use
// instead (then its topics are left as they are: create them, or let the
// cluster create them).
func StartKafka(addr string, partitions int32, topics ...string) (*Kafka, error) {
	if addr != "" {
		return &Kafka{Addr: addr}, nil
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topics...), kfake.AllowAutoTopicCreation())
	if err != nil {
		return nil, fmt.Errorf("run: kfake: %w", err)
	}
	return &Kafka{Addr: c.ListenAddrs()[0], c: c}, nil
}

// Close stops kfake (nothing for a real Kafka).
func (k *Kafka) Close() {
	if k.c != nil {
		k.c.Close()
	}
}
