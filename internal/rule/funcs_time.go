package rule

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Date and time functions, with EMQX's %-directives: %Y %m %d %H %M %S,
// %N (nanoseconds), %3N %6N %9N (fractions), %z (+0800), %:z (+08:00) and
// %::z (+08:00:00). Offsets are 'Z', '+08:00', '+0800', '+08:00:00' or an
// int of seconds.

func init() {
	register("format_date", 3, 4, formatDate).doc = "format_date(unit, offset, format[, ts]) — format timestamp ts (in unit; default: now) at offset: format_date('millisecond', '+08:00', '%Y-%m-%d %H:%M:%S.%3N%:z', 1708933353472) = '2024-02-26 15:42:33.472+08:00'"
	pure("date_to_unix_ts", 3, 4, dateToUnix).doc = "date_to_unix_ts(unit, [offset, ]format, date) — parse date with format (an offset in it wins): date_to_unix_ts('second', '%Y-%m-%d %H:%M:%S%:z', '2024-02-23 15:00:00+08:00') = 1708671600"
	pure("rfc3339_to_unix_ts", 1, 2, func(a []Value) (Value, error) {
		s, err := text(a, 0)
		if err != nil {
			return Null, err
		}
		unit, err := option(a, 1, "second")
		if err != nil {
			return Null, err
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return Null, errors.New("not an RFC 3339 date: " + s)
		}
		return unixIn(t, unit)
	}).doc = "rfc3339_to_unix_ts(date[, unit]) — an RFC 3339 date as a Unix timestamp (seconds by default): rfc3339_to_unix_ts('2024-02-23T15:56:30Z') = 1708703790"
	pure("unix_ts_to_rfc3339", 1, 2, func(a []Value) (Value, error) {
		ts, err := intArg(a, 0)
		if err != nil {
			return Null, err
		}
		unit, err := option(a, 1, "second")
		if err != nil {
			return Null, err
		}
		t, err := fromUnix(ts, unit)
		return String(rfc3339(t, unit)), err
	}).doc = "unix_ts_to_rfc3339(ts[, unit]) — a Unix timestamp as an RFC 3339 date in UTC: unix_ts_to_rfc3339(1708671600) = '2024-02-23T07:00:00Z'"
	register("now_rfc3339", 0, 1, func(e *env, a []Value) (Value, error) {
		unit, err := option(a, 0, "second")
		if _, ok := unitDiv[unit]; !ok || err != nil {
			return Null, errors.Join(err, errors.New("unknown unit '"+unit+"'"))
		}
		return String(rfc3339(e.now.UTC(), unit)), nil
	}).doc = "now_rfc3339([unit]) — the current time as an RFC 3339 date in UTC"
	tz := pure("timezone_to_offset_seconds", 1, 1, tzOffset)
	tz.nullable = true
	tz.doc = "timezone_to_offset_seconds(offset) — an offset in seconds: timezone_to_offset_seconds('+08:00') = 28800"
	tz = pure("timezone_to_second", 1, 1, tzOffset)
	tz.nullable = true
	tz.doc = "timezone_to_second(offset) — the same as timezone_to_offset_seconds"
	pure("float2str", 2, 2, func(a []Value) (Value, error) {
		f, err := number(a, 0)
		if err != nil {
			return Null, err
		}
		d, err := integer(a, 1)
		if err != nil || d < 0 || d > 253 {
			return Null, errors.Join(err, errIf(d < 0 || d > 253, "precision must be 0 to 253"))
		}
		return String(compactFloat(f, int(d))), nil
	}).doc = "float2str(x, decimals) — x with at most decimals decimals: float2str(20.2, 16) = '20.1999999999999993'"
}

func tzOffset(a []Value) (Value, error) {
	if a[0].IsNull() {
		return Int(0), nil
	}
	if n, ok := a[0].AsInt(); ok {
		return Int(n), nil
	}
	s, err := text(a, 0)
	if err != nil {
		return Null, err
	}
	if s == "local" {
		_, off := time.Now().Zone()
		return Int(int64(off)), nil
	}
	off, err := parseOffset(s)
	return Int(int64(off)), err
}

var unitDiv = map[string]time.Duration{"second": time.Second, "millisecond": time.Millisecond,
	"microsecond": time.Microsecond, "nanosecond": time.Nanosecond}

func unixIn(t time.Time, unit string) (Value, error) {
	d, ok := unitDiv[unit]
	if !ok {
		return Null, errors.New("unknown unit '" + unit + "' (second, millisecond, microsecond, nanosecond)")
	}
	return Int(t.UnixNano() / int64(d)), nil
}

func fromUnix(ts int64, unit string) (time.Time, error) {
	d, ok := unitDiv[unit]
	if !ok {
		return time.Time{}, errors.New("unknown unit '" + unit + "'")
	}
	return time.Unix(0, 0).Add(time.Duration(ts) * d).UTC(), nil
}

func rfc3339(t time.Time, unit string) string {
	frac := map[string]string{"millisecond": ".000", "microsecond": ".000000", "nanosecond": ".000000000"}[unit]
	return t.Format("2006-01-02T15:04:05" + frac + "Z07:00")
}

// parseOffset reads Z, +08:00, +0800, +08 or +08:00:00 as seconds east.
func parseOffset(s string) (int, error) {
	if s == "Z" || s == "z" || s == "" {
		return 0, nil
	}
	bad := errors.New("bad offset '" + s + "' (want Z, +08:00, +0800 or seconds)")
	if len(s) < 3 || s[0] != '+' && s[0] != '-' {
		return 0, bad
	}
	digits := strings.ReplaceAll(s[1:], ":", "")
	if len(digits) != 2 && len(digits) != 4 && len(digits) != 6 {
		return 0, bad
	}
	secs := 0
	for i, mul := range []int{3600, 60, 1} {
		if 2*i >= len(digits) {
			break
		}
		n, err := strconv.Atoi(digits[2*i : 2*i+2])
		if err != nil {
			return 0, bad
		}
		secs += n * mul
	}
	if s[0] == '-' {
		secs = -secs
	}
	return secs, nil
}

// offsetArg reads an offset argument: a string or an int of seconds.
func offsetArg(a []Value, i int) (int, error) {
	if n, ok := a[i].AsInt(); ok {
		return int(n), nil
	}
	s, err := text(a, i)
	if err != nil {
		return 0, err
	}
	return parseOffset(s)
}

func formatDate(e *env, a []Value) (Value, error) {
	unit, err := text(a, 0)
	if err != nil {
		return Null, err
	}
	off, err := offsetArg(a, 1)
	if err != nil {
		return Null, err
	}
	layout, err := text(a, 2)
	if err != nil {
		return Null, err
	}
	t := e.now
	if len(a) == 4 {
		ts, err := intArg(a, 3)
		if err != nil {
			return Null, err
		}
		if t, err = fromUnix(ts, unit); err != nil {
			return Null, err
		}
	} else if _, ok := unitDiv[unit]; !ok {
		return Null, errors.New("unknown unit '" + unit + "'")
	}
	return String(strftime(t.In(time.FixedZone("", off)), layout)), nil
}

// strftime formats t with the %-directives; other text is kept.
func strftime(t time.Time, layout string) string {
	var b strings.Builder
	for i := 0; i < len(layout); i++ {
		if layout[i] != '%' || i+1 >= len(layout) {
			b.WriteByte(layout[i])
			continue
		}
		d := directive(layout[i+1:])
		if d == "" {
			b.WriteByte('%')
			continue
		}
		i += len(d)
		b.WriteString(formatDirective(t, d))
	}
	return b.String()
}

// directive returns the directive at the start of s (after %), or "".
func directive(s string) string {
	for _, d := range []string{"::z", ":z", "3N", "6N", "9N", "Y", "m", "d", "H", "M", "S", "N", "z", "%"} {
		if strings.HasPrefix(s, d) {
			return d
		}
	}
	return ""
}

func formatDirective(t time.Time, d string) string {
	_, off := t.Zone()
	switch d {
	case "Y":
		return fmt.Sprintf("%04d", t.Year())
	case "m":
		return fmt.Sprintf("%02d", int(t.Month()))
	case "d":
		return fmt.Sprintf("%02d", t.Day())
	case "H":
		return fmt.Sprintf("%02d", t.Hour())
	case "M":
		return fmt.Sprintf("%02d", t.Minute())
	case "S":
		return fmt.Sprintf("%02d", t.Second())
	case "3N":
		return fmt.Sprintf("%03d", t.Nanosecond()/1e6)
	case "6N":
		return fmt.Sprintf("%06d", t.Nanosecond()/1e3)
	case "9N", "N":
		return fmt.Sprintf("%09d", t.Nanosecond())
	case "z", ":z", "::z":
		return formatOffset(off, d)
	}
	return "%"
}

func formatOffset(off int, d string) string {
	sign := byte('+')
	if off < 0 {
		sign, off = '-', -off
	}
	h, m, s := off/3600, off/60%60, off%60
	switch d {
	case "z":
		return fmt.Sprintf("%c%02d%02d", sign, h, m)
	case ":z":
		return fmt.Sprintf("%c%02d:%02d", sign, h, m)
	}
	return fmt.Sprintf("%c%02d:%02d:%02d", sign, h, m, s)
}

// dateToUnix parses date with format. Each directive reads its digits;
// each other character of the format skips one character of the date that
// is not a digit (so '%H:%M' also reads 10-40, as in EMQX).
func dateToUnix(a []Value) (Value, error) {
	unit, err := text(a, 0)
	if err != nil {
		return Null, err
	}
	off, fi := 0, 1
	if len(a) == 4 {
		if off, err = offsetArg(a, 1); err != nil {
			return Null, err
		}
		fi = 2
	}
	format, date, err := text2(a[fi:])
	if err != nil {
		return Null, err
	}
	t, err := parseDate(format, date, off)
	if err != nil {
		return Null, err
	}
	return unixIn(t, unit)
}

type dateParts struct {
	year, month, day, hour, min, sec, nano int
	have                                   map[string]bool
	off                                    int
}

func parseDate(format, date string, off int) (time.Time, error) {
	p := dateParts{have: map[string]bool{}, off: off}
	bad := errors.New("date '" + date + "' does not match format '" + format + "'")
	j := 0
	for i := 0; i < len(format); i++ {
		if format[i] != '%' || i+1 >= len(format) {
			if j >= len(date) || isDigit(date[j]) {
				return time.Time{}, bad
			}
			j++
			continue
		}
		d := directive(format[i+1:])
		if d == "" || d == "%" {
			return time.Time{}, errors.New("unsupported directive in format '" + format + "'")
		}
		i += len(d)
		n, err := p.read(d, date[j:])
		if err != nil {
			return time.Time{}, bad
		}
		j += n
	}
	if j != len(date) {
		return time.Time{}, bad
	}
	return p.time()
}

// read parses directive d at the start of s and returns the bytes read.
func (p *dateParts) read(d, s string) (int, error) {
	if strings.HasSuffix(d, "z") {
		return p.readOffset(s)
	}
	width := map[string]int{"Y": 4, "m": 2, "d": 2, "H": 2, "M": 2, "S": 2, "3N": 3, "6N": 6, "9N": 9, "N": 9}[d]
	n := 0
	for n < width && n < len(s) && isDigit(s[n]) {
		n++
	}
	if n != width {
		return 0, errors.New("short number")
	}
	v, _ := strconv.Atoi(s[:n])
	switch d {
	case "Y":
		p.year = v
	case "m":
		p.month = v
	case "d":
		p.day = v
	case "H":
		p.hour = v
	case "M":
		p.min = v
	case "S":
		p.sec = v
	default:
		for k := width; k < 9; k++ {
			v *= 10
		}
		p.nano = v
	}
	p.have[d] = true
	return n, nil
}

func (p *dateParts) readOffset(s string) (int, error) {
	if s == "" {
		return 0, nil // no offset in the date: the argument's
	}
	if strings.HasPrefix(s, "Z") || strings.HasPrefix(s, "z") {
		p.off = 0
		return 1, nil
	}
	n := 1
	for n < len(s) && (isDigit(s[n]) || s[n] == ':') {
		n++
	}
	off, err := parseOffset(s[:n])
	p.off = off
	return n, err
}

func (p *dateParts) time() (time.Time, error) {
	for _, part := range []string{"Y", "m", "d"} {
		if !p.have[part] {
			return time.Time{}, errors.New("the format has no %" + part)
		}
	}
	t := time.Date(p.year, time.Month(p.month), p.day, p.hour, p.min, p.sec, p.nano, time.FixedZone("", p.off))
	if t.Month() != time.Month(p.month) || t.Day() != p.day || p.hour > 23 || p.min > 59 || p.sec > 59 {
		return time.Time{}, errors.New("no such date")
	}
	return t, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
