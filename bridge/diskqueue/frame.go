package diskqueue

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// frameHeader is the length and CRC before each payload.
const frameHeader = 8

// MaxRecord is the largest record payload the queue accepts.
const MaxRecord = 64 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var (
	// errShort means b ends before the frame does.
	errShort = errors.New("diskqueue: short frame")
	// errCorrupt means the frame's length or CRC is wrong.
	errCorrupt = errors.New("diskqueue: corrupt frame")
)

// appendFrame appends the frame of payload p to dst.
func appendFrame(dst, p []byte) []byte {
	var h [frameHeader]byte
	binary.BigEndian.PutUint32(h[:4], uint32(len(p)))
	binary.BigEndian.PutUint32(h[4:], crc32.Checksum(p, castagnoli))
	dst = append(dst, h[:]...)
	return append(dst, p...)
}

// frameSize is the on-disk size of a payload of n bytes.
func frameSize(n int) int64 { return int64(frameHeader + n) }

// decodeFrame decodes the frame at the start of b: its payload (aliasing
// b) and its total length. It returns errShort when b holds only part of
// the frame, errCorrupt when the length is out of range or the CRC does
// not match.
func decodeFrame(b []byte) (payload []byte, n int, err error) {
	if len(b) < frameHeader {
		return nil, 0, errShort
	}
	l := binary.BigEndian.Uint32(b[:4])
	if l > MaxRecord {
		return nil, 0, errCorrupt
	}
	end := frameHeader + int(l)
	if len(b) < end {
		return nil, 0, errShort
	}
	p := b[frameHeader:end]
	if crc32.Checksum(p, castagnoli) != binary.BigEndian.Uint32(b[4:8]) {
		return nil, 0, errCorrupt
	}
	return p, end, nil
}

// frameLen returns the total length announced by the header h.
func frameLen(h []byte) (int64, error) {
	if len(h) < frameHeader {
		return 0, errShort
	}
	l := binary.BigEndian.Uint32(h[:4])
	if l > MaxRecord {
		return 0, errCorrupt
	}
	return frameSize(int(l)), nil
}
