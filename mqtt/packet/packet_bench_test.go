package packet_test

import (
	"bytes"
	"testing"

	"github.com/iothub-dev/iothub/mqtt/packet"
)

// The door lock's state message (scenarios/doorlock/state.json).
const (
	benchTopic   = "devices/10083618796833171/state"
	benchPayload = `{"process_id":"7802441525528958","action":"unlock","battery":83.4,"lock_state":1,"version":1.1,"client_id":"10083618796833171"}`
)

func benchPublish() *packet.Publish {
	return &packet.Publish{QoS: 1, Topic: benchTopic, PacketID: 42, Payload: []byte(benchPayload)}
}

func benchVersions(b *testing.B, fn func(b *testing.B, v packet.Version, p *packet.Publish)) {
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		b.Run("v"+v.String(), func(b *testing.B) {
			p := benchPublish()
			if v == packet.V5 {
				p.Properties.PayloadFormat = 1
			}
			fn(b, v, p)
		})
	}
}

// BenchmarkDecodePublish decodes a QoS 1 door-lock PUBLISH body (fixed
// header already parsed, as a connection's read loop does).
func BenchmarkDecodePublish(b *testing.B) {
	benchVersions(b, func(b *testing.B, v packet.Version, p *packet.Publish) {
		raw, err := p.AppendTo(nil, v)
		if err != nil {
			b.Fatal(err)
		}
		n, err := packet.ReadVarInt(bytes.NewReader(raw[1:]))
		if err != nil {
			b.Fatal(err)
		}
		body := raw[1+packet.VarIntLen(n):]
		fh, err := packet.ParseFixedHeader(raw[0], n)
		if err != nil {
			b.Fatal(err)
		}
		var got packet.Publish
		b.SetBytes(int64(len(raw)))
		b.ReportAllocs()
		for b.Loop() {
			if err := got.Decode(fh, body, v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkEncodePublish encodes the same PUBLISH into a reused buffer.
func BenchmarkEncodePublish(b *testing.B) {
	benchVersions(b, func(b *testing.B, v packet.Version, p *packet.Publish) {
		buf := make([]byte, 0, 512)
		b.SetBytes(int64(len(benchPayload)))
		b.ReportAllocs()
		for b.Loop() {
			var err error
			if buf, err = p.AppendTo(buf[:0], v); err != nil {
				b.Fatal(err)
			}
		}
	})
}
