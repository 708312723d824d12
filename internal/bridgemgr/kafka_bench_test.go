package bridgemgr_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/iothub-dev/iothub/bridge"
	"github.com/iothub-dev/iothub/bridge/kafka"
	"github.com/iothub-dev/iothub/config"
	"github.com/iothub-dev/iothub/internal/bridgemgr"
	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/rule"
)

const benchPublishers = 32

var benchPayload = []byte(`{"vin":"EDF226K7LZTZ51222","speed":39,"odometer":68234,"soc":87,"elevation":4737,"heading":33,"accuracy":24,"power":97,"shift_state":"D","range":64,"est_battery_range":307,"gps_as_of":1681704127537,"location":{"latitude":"83.3494","longitude":"141.9851"},"timestamp":1681704127537}`)

// BenchmarkKafka compares, each against a fresh kfake cluster on loopback
// TCP (kfake keeps every record in memory, and gets slower as it fills),
// franz-go producing records straight to Kafka ("direct"), the same
// records enqueued into a Kafka bridge runner ("runner"), and the same
// records going MQTT QoS 1 publish → hub → rule → bridge → Kafka ("hub").
// All report records/s; their ratios are the bridge's and the hub's
// efficiency.
func BenchmarkKafka(b *testing.B) {
	// Direct and runner use the same producer settings (the bridge's
	// defaults: idempotent, acks all, linger 5ms), with the bridge's
	// default compression (none) and with franz-go's default (snappy,
	// which makes kfake store less).
	for _, comp := range []string{"none", "snappy"} {
		b.Run("direct-"+comp, func(b *testing.B) { benchDirect(b, benchCluster(b), comp) })
		b.Run("runner-"+comp, func(b *testing.B) { benchRunner(b, benchCluster(b), comp) })
	}
	b.Run("hub", func(b *testing.B) { benchHub(b, benchCluster(b)) })
}

// benchDirect produces the records with franz-go.
func benchDirect(b *testing.B, addr, compression string) {
	codec := kgo.NoCompression()
	if compression == "snappy" {
		codec = kgo.SnappyCompression()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ProducerLinger(5*time.Millisecond), kgo.ProducerBatchCompression(codec))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	wg.Add(b.N)
	for i := range b.N {
		cl.Produce(context.Background(), &kgo.Record{Topic: "direct", Key: fmt.Appendf(nil, "car-%d", i%benchPublishers),
			Value: benchPayload, Timestamp: time.Now()}, func(_ *kgo.Record, err error) {
			if err != nil {
				b.Error(err)
			}
			wg.Done()
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
}

// benchCluster starts a kfake cluster for one benchmark run and returns
// its address.
func benchCluster(b *testing.B) string {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, "direct", "my-vehicles"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

// benchRunner enqueues the records straight into a Kafka bridge runner
// (no MQTT, no rules): the delivery engine's own cost.
func benchRunner(b *testing.B, addr, compression string) {
	p, err := kafka.NewProducer(kafka.ProducerOptions{Conn: kafka.Conn{Brokers: []string{addr}}, Idempotent: true,
		Linger: 5 * time.Millisecond, Compression: compression})
	if err != nil {
		b.Fatal(err)
	}
	r, err := bridge.NewRunner(p, bridge.Options{Name: "bench", Dir: b.TempDir(), BatchSize: 2000, MemoryRecords: 100000,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	r.Start()
	defer r.Close(context.Background())
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		if err := r.Enqueue(bridge.Record{Topic: "direct", Key: fmt.Appendf(nil, "car-%d", i%benchPublishers), Value: benchPayload, Time: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
	for r.Metrics().Sent < uint64(b.N) {
		time.Sleep(time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
}

func benchHub(b *testing.B, kafkaAddr string) {
	log := slog.New(slog.DiscardHandler)
	srv, err := broker.New(broker.Options{NodeName: "bench", MaxInflight: 1024, MaxQueuedMessages: 1000, EventBuffer: 65536, Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = srv.Serve(ln, "tcp") }()
	defer srv.Shutdown(context.Background())
	mgr := bridgemgr.New(bridgemgr.Options{DataDir: b.TempDir(), Publisher: srv, Logger: log})
	reg := rule.NewRegistry()
	if err := mgr.Register(reg); err != nil {
		b.Fatal(err)
	}
	def := config.DefaultBridge()
	pc := def.Settings.(*kafka.ProducerConfig)
	def.Name, pc.Kafka.BootstrapServers = "vehicles", []string{kafkaAddr}
	pc.Producer.Topic, pc.Producer.Value = "my-vehicles", "${payload}"
	if err := mgr.Start([]config.Bridge{def}); err != nil {
		b.Fatal(err)
	}
	defer mgr.Close(context.Background())
	rr := rule.NewRunner(rule.Options{Publisher: srv, Logger: log, Registry: reg})
	if err := rr.Start(); err != nil {
		b.Fatal(err)
	}
	defer rr.Close(context.Background())
	srv.AddEventHandler(rr)
	if _, err := rr.Create(rule.Rule{ID: "vehicles", SQL: `SELECT payload FROM "mqttx/simulate/#"`, Enabled: true,
		Actions: []rule.ActionSpec{{"type": "bridge", "bridge": "vehicles"}}}); err != nil {
		b.Fatal(err)
	}
	clients := make([]*paho.Client, benchPublishers)
	for i := range clients {
		nc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		clients[i] = paho.NewClient(paho.ClientConfig{Conn: nc})
		if _, err := clients[i].Connect(context.Background(), &paho.Connect{ClientID: fmt.Sprintf("car-%d", i), CleanStart: true, KeepAlive: 60}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i, c := range clients {
		n := b.N / benchPublishers
		if i == 0 {
			n += b.N % benchPublishers
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n {
				if _, err := c.Publish(context.Background(), &paho.Publish{Topic: fmt.Sprintf("mqttx/simulate/tesla/car-%d", i), QoS: 1, Payload: benchPayload}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	published := time.Since(start)
	for {
		m, _ := mgr.Metrics("vehicles")
		if bm := m.(bridge.Metrics); bm.Sent >= uint64(b.N) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
	b.ReportMetric(float64(b.N)/published.Seconds(), "mqtt-publishes/s")
}
