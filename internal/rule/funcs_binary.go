package rule

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"math"
	"strings"
)

// Functions on binary data: payloads of industrial devices (register
// tables) are often not JSON. A string holds arbitrary bytes.

func init() {
	s := pure("subbits", 2, 6, subbits)
	s.doc = "subbits(bin, [start, ]len[, 'integer' | 'float' | 'bits'[, 'unsigned' | 'signed'[, 'big' | 'little']]]) — len bits from bit start (1-based): subbits(hexstr2bin('9F4E58'), 9, 8) = 78"
	s.check = func(lits []*Value) (int, error) {
		for i, allowed := range map[int][]string{3: {"integer", "float", "bits"}, 4: {"unsigned", "signed"}, 5: {"big", "little"}} {
			if w, ok := constString(lits, i); ok && !oneOf(w, allowed) {
				return i, errors.New("unknown option '" + w + "' (" + strings.Join(allowed, ", ") + ")")
			}
		}
		return 0, nil
	}
	pure("bitsize", 1, 1, func(a []Value) (Value, error) {
		b, err := text(a, 0)
		return Int(int64(len(b)) * 8), err
	}).doc = "bitsize(bin) — size in bits: bitsize('abc') = 24"
	pure("bytesize", 1, 1, func(a []Value) (Value, error) {
		b, err := text(a, 0)
		return Int(int64(len(b))), err
	}).doc = "bytesize(bin) — size in bytes: bytesize('abc') = 3"
	pure("bin2hexstr", 1, 2, func(a []Value) (Value, error) {
		b, err := text(a, 0)
		if err != nil {
			return Null, err
		}
		prefix, err := option(a, 1, "")
		return String(prefix + strings.ToUpper(hex.EncodeToString([]byte(b)))), err
	}).doc = "bin2hexstr(bin[, prefix]) — upper-case hex: bin2hexstr(hexstr2bin('0102'), '0x') = '0x0102'"
	pure("sqlserver_bin2hexstr", 1, 1, func(a []Value) (Value, error) {
		b, err := text(a, 0)
		return String("0x" + strings.ToUpper(hex.EncodeToString([]byte(b)))), err
	}).doc = "sqlserver_bin2hexstr(bin) — hex with a 0x prefix: sqlserver_bin2hexstr(hexstr2bin('0102')) = '0x0102'"
	pure("hexstr2bin", 1, 2, hexstr2bin).doc = "hexstr2bin(hex[, prefix]) — bytes of a hex string (an odd digit count gets a leading 0): hexstr2bin('6364f')"
	intOp("bitand", func(x, y int64) int64 { return x & y }).doc = "bitand(x, y) — bitwise and: bitand(10, 8) = 8"
	intOp("bitor", func(x, y int64) int64 { return x | y }).doc = "bitor(x, y) — bitwise or: bitor(10, 8) = 10"
	intOp("bitxor", func(x, y int64) int64 { return x ^ y }).doc = "bitxor(x, y) — bitwise exclusive or: bitxor(10, 8) = 2"
	intOp("bitsl", func(x, y int64) int64 { return x << min(max(y, 0), 63) }).doc = "bitsl(x, n) — shift left: bitsl(8, 2) = 32"
	intOp("bitsr", func(x, y int64) int64 { return x >> min(max(y, 0), 63) }).doc = "bitsr(x, n) — arithmetic shift right: bitsr(-8, 2) = -2"
	pure("bitnot", 1, 1, func(a []Value) (Value, error) {
		x, err := intArg(a, 0)
		return Int(^x), err
	}).doc = "bitnot(x) — bitwise not: bitnot(10) = -11"
	intOp("div", func(x, y int64) int64 { return x / y }).doc = "div(x, y) — integer quotient, as the div operator: div(7, 2) = 3"
	intOp("mod", func(x, y int64) int64 { return x % y }).doc = "mod(x, y) — integer remainder, as the mod operator: mod(3, 2) = 1"
	for _, z := range []struct {
		name, doc string
		fn        func(string) (string, error)
	}{
		{"gzip", "gzip(bin) — gzip-compressed", gzipBytes},
		{"gunzip", "gunzip(bin) — gzip-decompressed (bounded)", gunzip},
		{"zip", "zip(bin) — raw deflate", zipRaw},
		{"unzip", "unzip(bin) — raw inflate (bounded)", unzipRaw},
		{"zip_compress", "zip_compress(bin) — zlib-compressed", zlibBytes},
		{"zip_uncompress", "zip_uncompress(bin) — zlib-decompressed (bounded)", unzlib},
	} {
		pure(z.name, 1, 1, strErrFn(z.fn)).doc = z.doc
	}
}

func oneOf(s string, list []string) bool {
	for _, x := range list {
		if s == x {
			return true
		}
	}
	return false
}

// intArg returns argument i as an int (no conversion from strings).
func intArg(a []Value, i int) (int64, error) {
	if n, ok := a[i].AsInt(); ok {
		return n, nil
	}
	return 0, argErr(i, a[i], "an int")
}

func intOp(name string, f func(x, y int64) int64) *funcSpec {
	return pure(name, 2, 2, func(a []Value) (Value, error) {
		x, err := intArg(a, 0)
		if err != nil {
			return Null, err
		}
		y, err := intArg(a, 1)
		if err != nil {
			return Null, err
		}
		if (name == "div" || name == "mod") && y == 0 {
			return Null, errors.New("division by zero")
		}
		if (name == "div" || name == "mod") && x == math.MinInt64 && y == -1 {
			return Null, errors.New("integer overflow")
		}
		return Int(f(x, y)), nil
	})
}

func hexstr2bin(a []Value) (Value, error) {
	s, err := text(a, 0)
	if err != nil {
		return Null, err
	}
	if len(a) == 2 {
		prefix, err := text(a, 1)
		if err != nil {
			return Null, err
		}
		rest, ok := strings.CutPrefix(s, prefix)
		if !ok {
			return Null, errors.New("the string does not start with '" + prefix + "'")
		}
		s = rest
	}
	if len(s)%2 == 1 {
		s = "0" + s
	}
	b, err := hex.DecodeString(s)
	return String(string(b)), err
}

// subbits reads len bits from 1-based bit start of bin as an unsigned or
// signed integer (up to 64 bits), a float (16, 32 or 64 bits), or 'bits'
// (the bits as bytes, right-aligned). Past the end it reads what is left;
// a start past the end is undefined.
func subbits(a []Value) (Value, error) {
	bin, err := text(a, 0)
	if err != nil {
		return Null, err
	}
	start, length := int64(1), int64(0)
	if len(a) == 2 {
		length, err = intArg(a, 1)
	} else {
		if start, err = intArg(a, 1); err == nil {
			length, err = intArg(a, 2)
		}
	}
	if err != nil {
		return Null, err
	}
	typ, err := option(a, 3, "integer")
	if err != nil {
		return Null, err
	}
	sign, err := option(a, 4, "unsigned")
	if err != nil {
		return Null, err
	}
	order, err := option(a, 5, "big")
	if err != nil {
		return Null, err
	}
	total := int64(len(bin)) * 8
	if start < 1 || length < 0 || start > total {
		return Null, nil
	}
	length = min(length, total-start+1)
	return decodeBits(bin, uint64(start-1), uint64(length), typ, sign == "signed", order == "little")
}

func decodeBits(bin string, off, n uint64, typ string, signed, little bool) (Value, error) {
	if typ == "bits" {
		return String(string(bitsBytes(bin, off, n))), nil
	}
	if n > 64 {
		return Null, errors.New("more than 64 bits")
	}
	v := readBits(bin, off, n)
	if little {
		if n%8 != 0 {
			return Null, errors.New("little-endian needs whole bytes")
		}
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], v)
		bs := b[8-n/8:]
		for i, j := 0, len(bs)-1; i < j; i, j = i+1, j-1 {
			bs[i], bs[j] = bs[j], bs[i]
		}
		v = 0
		for _, c := range bs {
			v = v<<8 | uint64(c)
		}
	}
	switch typ {
	case "integer":
		if signed && n > 0 && n < 64 && v&(1<<(n-1)) != 0 {
			return Int(int64(v) - int64(1)<<n), nil
		}
		if !signed && n == 64 && v > math.MaxInt64 {
			return Float(float64(v)), nil
		}
		return Int(int64(v)), nil
	case "float":
		switch n {
		case 64:
			return Float(math.Float64frombits(v)), nil
		case 32:
			return Float(float64(math.Float32frombits(uint32(v)))), nil
		case 16:
			return Float(halfFloat(uint16(v))), nil
		}
		return Null, errors.New("a float has 16, 32 or 64 bits")
	}
	return Null, errors.New("unknown type '" + typ + "' (integer, float, bits)")
}

// readBits returns n ≤ 64 bits of bin from bit off, big-endian.
func readBits(bin string, off, n uint64) uint64 {
	var v uint64
	for i := uint64(0); i < n; i++ {
		bit := off + i
		v = v<<1 | uint64(bin[bit/8]>>(7-bit%8)&1)
	}
	return v
}

// bitsBytes returns n bits of bin from bit off as bytes, right-aligned.
func bitsBytes(bin string, off, n uint64) []byte {
	out := make([]byte, (n+7)/8)
	pad := uint64(len(out))*8 - n
	for i := uint64(0); i < n; i++ {
		bit := off + i
		if bin[bit/8]>>(7-bit%8)&1 == 1 {
			pos := pad + i
			out[pos/8] |= 1 << (7 - pos%8)
		}
	}
	return out
}

// halfFloat converts an IEEE 754 half-precision float.
func halfFloat(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp := int(h>>10) & 0x1f
	frac := float64(h & 0x3ff)
	switch exp {
	case 0:
		return sign * math.Ldexp(frac, -24)
	case 0x1f:
		if frac == 0 {
			return sign * math.Inf(1)
		}
		return math.NaN()
	}
	return sign * math.Ldexp(1+frac/1024, exp-15)
}

// maxInflated bounds what the decompression functions produce, so that a
// small hostile payload cannot exhaust memory.
const maxInflated = 16 << 20

func inflate(r io.Reader) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxInflated+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxInflated {
		return "", errors.New("decompressed data larger than 16 MiB")
	}
	return string(b), nil
}

func compress(w io.WriteCloser, buf *bytes.Buffer, s string) (string, error) {
	if _, err := io.WriteString(w, s); err != nil {
		return "", err
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	return buf.String(), nil
}

func gzipBytes(s string) (string, error) {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.OS = 19 // what Erlang's zlib writes, so outputs compare equal to EMQX's
	return compress(w, &buf, s)
}

func gunzip(s string) (string, error) {
	r, err := gzip.NewReader(strings.NewReader(s))
	if err != nil {
		return "", err
	}
	return inflate(r)
}

func zipRaw(s string) (string, error) {
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, flate.DefaultCompression)
	if err != nil {
		return "", err
	}
	return compress(w, &buf, s)
}

func unzipRaw(s string) (string, error) { return inflate(flate.NewReader(strings.NewReader(s))) }

func zlibBytes(s string) (string, error) {
	var buf bytes.Buffer
	return compress(zlib.NewWriter(&buf), &buf, s)
}

func unzlib(s string) (string, error) {
	r, err := zlib.NewReader(strings.NewReader(s))
	if err != nil {
		return "", err
	}
	return inflate(r)
}
