package broker_test

import (
	"bufio"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/iothub-dev/iothub/internal/broker"
	"github.com/iothub-dev/iothub/internal/testutil"
	"github.com/iothub-dev/iothub/mqtt/packet"
)

// BenchmarkPersistQoS1 measures QoS 1 messages persisted per second for an
// offline persistent subscriber, end to end through the broker: publishers
// pipeline QoS 1 PUBLISHes (256 unacknowledged each) and count PUBACKs,
// which the broker sends only once the message is stored. It reports
// msgs/s and the store's disk bytes per message.
//
//	go test -run '^$' -bench PersistQoS1 -benchtime 20000x ./internal/broker/
func BenchmarkPersistQoS1(b *testing.B) {
	for _, d := range []broker.Durability{broker.DurabilityFsync, broker.DurabilityOS} {
		for _, pubs := range []int{1, 16} {
			b.Run(fmt.Sprintf("%s/publishers=%d", d, pubs), func(b *testing.B) { benchPersist(b, d, pubs) })
		}
	}
}

func benchPersist(b *testing.B, d broker.Durability, pubs int) {
	dir := b.TempDir()
	sb := testutil.StartStoredBroker(b, dir, func(o *broker.Options) {
		o.Durability = d
		o.MaxQueuedMessages = 1 << 30
		o.MaxInflight = 1024
	})
	sub := benchConn(b, sb.Addr, "lock-offline", 3600)
	benchSend(b, sub, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "devices/+/command", QoS: 1}}})
	if _, err := packet.ReadPacket(sub, packet.V5, 1<<20); err != nil {
		b.Fatal(err)
	}
	benchSend(b, sub, &packet.Disconnect{})
	_ = sub.Close()
	payload := make([]byte, 200)
	per := (b.N + pubs - 1) / pubs
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for p := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			benchPublisher(b, sb.Addr, fmt.Sprintf("pub-%d", p), make([]byte, len(payload)), per)
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(per*pubs)/b.Elapsed().Seconds(), "msgs/s")
	sb.Stop(b)
	b.ReportMetric(float64(dirSize(b, dir))/float64(per*pubs), "disk-B/msg")
}

func benchConn(b *testing.B, addr, id string, expiry uint32) net.Conn {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	cp := &packet.Connect{Version: packet.V5, ClientID: id, CleanStart: true, KeepAlive: 60}
	cp.Properties.SessionExpiry, cp.Properties.HasSessionExpiry = expiry, true
	benchSend(b, nc, cp)
	if _, err := packet.ReadPacket(nc, packet.V5, 1<<20); err != nil {
		b.Fatal(err)
	}
	return nc
}

func benchSend(b *testing.B, nc net.Conn, p packet.Packet) {
	buf, err := p.AppendTo(nil, packet.V5)
	if err == nil {
		_, err = nc.Write(buf)
	}
	if err != nil {
		b.Error(err)
	}
}

// benchPublisher sends n QoS 1 messages with up to 256 unacknowledged and
// returns when all are acknowledged.
func benchPublisher(b *testing.B, addr, id string, payload []byte, n int) {
	nc := benchConn(b, addr, id, 0)
	defer nc.Close()
	const window = 256
	slots := make(chan struct{}, window)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r := bufio.NewReader(nc)
		for got := 0; got < n; got++ {
			_ = nc.SetReadDeadline(time.Now().Add(time.Minute))
			if _, err := packet.ReadPacket(r, packet.V5, 1<<20); err != nil {
				b.Error(err)
				return
			}
			<-slots
		}
	}()
	w := bufio.NewWriter(nc)
	var buf []byte
	rnd := rand.NewChaCha8([32]byte{byte(len(id))})
	for i := range n {
		select {
		case slots <- struct{}{}:
		default:
			_ = w.Flush()
			slots <- struct{}{}
		}
		_, _ = rnd.Read(payload) // each payload distinct and incompressible: honest disk figures
		p := packet.Publish{QoS: 1, Topic: "devices/lock-offline/command", PacketID: uint16(i%65535 + 1), Payload: payload}
		buf, _ = p.AppendTo(buf[:0], packet.V5)
		_, _ = w.Write(buf)
	}
	_ = w.Flush()
	<-done
}

func dirSize(b *testing.B, dir string) int64 {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			n += info.Size()
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}
