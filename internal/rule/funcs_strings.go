package rule

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// String functions that follow EMQX's (emqx_rule_funcs, emqx_variform_bif).

func init() {
	pure("split", 2, 3, splitFn).doc = "split(s, sep[, 'notrim' | 'leading' | 'leading_notrim' | 'trailing' | 'trailing_notrim']) — parts of s; empty parts are dropped unless notrim; leading/trailing split at the first/last sep only: split('/a/b//c/', '/') = ['a','b','c']"
	pure("tokens", 2, 3, tokensFn).doc = "tokens(s, chars[, 'nocrlf']) — the non-empty runs between any of the characters in chars (and CR/LF with nocrlf): tokens('a,b;c', ',;') = ['a','b','c']"
	pure("replace", 3, 4, replaceFn).doc = "replace(s, old, new[, 'all' | 'leading' | 'trailing']) — replace every (or the first, or the last) occurrence: replace('ab..cd..ef', '..', '**') = 'ab**cd**ef'"
	pure("pad", 2, 4, padFn).doc = "pad(s, len[, 'trailing' | 'leading' | 'both'[, char]]) — pad s to len characters with spaces or char: pad('hello', 8, 'leading') = '   hello'"
	pure("find", 2, 3, findFn).doc = "find(s, sub[, 'leading' | 'trailing']) — s from the first (or last) sub on, '' if none: find('acbcd', 'c') = 'cbcd'"
	pure("ascii", 1, 1, func(a []Value) (Value, error) {
		s, err := text(a, 0)
		if err != nil || s == "" {
			return Null, errors.Join(err, errIf(s == "", "empty string"))
		}
		return Int(int64(s[0])), nil
	}).doc = "ascii(s) — the code of the first byte: ascii('a') = 97"
	pure("rm_prefix", 2, 2, func(a []Value) (Value, error) {
		s, p, err := text2(a)
		return String(strings.TrimPrefix(s, p)), err
	}).doc = "rm_prefix(s, prefix) — s without prefix: rm_prefix('foo/bar', 'foo/') = 'bar'"
	pure("sprintf", 1, -1, sprintfFn).doc = "sprintf(format, args…) — Erlang io_lib:format: ~s, ~ts, ~p, ~w, ~b, ~f, ~e, ~c, ~n, ~~: sprintf('hello, ~s!', 'steve') = 'hello, steve!'"
	pure("unescape", 1, 1, strErrFn(unescape)).doc = "unescape(s) — interpret \\n \\t \\r \\b \\f \\v \\a \\' \\\" \\? \\\\ and \\xHH… escapes: unescape('a\\nb')"
	pure("join_to_string", 1, 2, joinToString).doc = "join_to_string([sep, ]array) — elements as text, joined by sep (default ', '): join_to_string(', ', ['a', 'b']) = 'a, b'"
	pure("join_to_sql_values_string", 1, 1, joinSQLValues).doc = "join_to_sql_values_string(array) — elements as SQL values: strings quoted, arrays as quoted JSON: join_to_sql_values_string(['a', 1]) = \"'a', 1\""
	pure("str_utf8", 1, 1, func(a []Value) (Value, error) { return String(emqxText(a[0])), nil }).doc = "str_utf8(x) — x as UTF-8 text, like str"
	pure("str_utf16_le", 1, 1, func(a []Value) (Value, error) {
		u := utf16.Encode([]rune(emqxText(a[0])))
		b := make([]byte, 0, 2*len(u))
		for _, c := range u {
			b = append(b, byte(c), byte(c>>8))
		}
		return String(string(b)), nil
	}).doc = "str_utf16_le(x) — x as UTF-16 little-endian bytes"
	pure("base64_encode", 1, 3, base64Encode).doc = "base64_encode(s[, 'no_padding'][, 'urlsafe']) — base64, padded and standard by default: base64_encode('hi') = 'aGk='"
	pure("base64_decode", 1, 3, base64Decode).doc = "base64_decode(s[, 'no_padding'][, 'urlsafe']) — decode base64 (padded or not, standard or URL-safe): base64_decode('aGk=') = 'hi'"
}

func errIf(cond bool, msg string) error {
	if cond {
		return errors.New(msg)
	}
	return nil
}

func text2(a []Value) (string, string, error) {
	s, err := text(a, 0)
	if err != nil {
		return "", "", err
	}
	t, err := text(a, 1)
	return s, t, err
}

// option returns argument i as an option word, or def when absent.
func option(a []Value, i int, def string) (string, error) {
	if i >= len(a) {
		return def, nil
	}
	return text(a, i)
}

func strArray(parts []string) Value {
	out := make([]any, len(parts))
	for i, p := range parts {
		out[i] = p
	}
	return Array(out)
}

func dropEmpty(parts []string) []string {
	out := parts[:0]
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

func splitFn(a []Value) (Value, error) {
	s, sep, err := text2(a)
	if err != nil {
		return Null, err
	}
	opt, err := option(a, 2, "")
	if err != nil {
		return Null, err
	}
	var parts []string
	switch strings.TrimSuffix(opt, "_notrim") {
	case "", "notrim":
		parts = strings.Split(s, sep)
		if sep == "" {
			parts = []string{s}
		}
	case "leading":
		parts = strings.SplitN(s, sep, 2)
	case "trailing":
		parts = []string{s}
		if i := strings.LastIndex(s, sep); i >= 0 && sep != "" {
			parts = []string{s[:i], s[i+len(sep):]}
		}
	default:
		return Null, errors.New("unknown option '" + opt + "'")
	}
	if !strings.HasSuffix(opt, "notrim") {
		parts = dropEmpty(parts)
	}
	return strArray(parts), nil
}

func tokensFn(a []Value) (Value, error) {
	s, seps, err := text2(a)
	if err != nil {
		return Null, err
	}
	opt, err := option(a, 2, "")
	if err != nil {
		return Null, err
	}
	if opt == "nocrlf" {
		seps += "\r\n"
	}
	return strArray(strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(seps, r) })), nil
}

func replaceFn(a []Value) (Value, error) {
	s, old, repl, err := text3(a)
	if err != nil {
		return Null, err
	}
	opt, err := option(a, 3, "all")
	if err != nil {
		return Null, err
	}
	switch opt {
	case "all":
		return String(strings.ReplaceAll(s, old, repl)), nil
	case "leading":
		return String(strings.Replace(s, old, repl, 1)), nil
	case "trailing":
		if i := strings.LastIndex(s, old); i >= 0 {
			return String(s[:i] + repl + s[i+len(old):]), nil
		}
		return String(s), nil
	}
	return Null, errors.New("unknown option '" + opt + "' (all, leading, trailing)")
}

func padFn(a []Value) (Value, error) {
	s, err := text(a, 0)
	if err != nil {
		return Null, err
	}
	n, err := integer(a, 1)
	if err != nil {
		return Null, err
	}
	pos, err := option(a, 2, "trailing")
	if err != nil {
		return Null, err
	}
	char, err := option(a, 3, " ")
	if err != nil {
		return Null, err
	}
	missing := int(min(n, maxPad)) - utf8.RuneCountInString(s)
	if missing <= 0 {
		return String(s), nil
	}
	switch pos {
	case "trailing":
		return String(s + strings.Repeat(char, missing)), nil
	case "leading":
		return String(strings.Repeat(char, missing) + s), nil
	case "both":
		left := missing / 2
		return String(strings.Repeat(char, left) + s + strings.Repeat(char, missing-left)), nil
	}
	return Null, errors.New("unknown option '" + pos + "' (trailing, leading, both)")
}

// maxPad bounds the length pad pads to.
const maxPad = 1 << 16

func findFn(a []Value) (Value, error) {
	s, sub, err := text2(a)
	if err != nil {
		return Null, err
	}
	dir, err := option(a, 2, "leading")
	if err != nil {
		return Null, err
	}
	var i int
	switch dir {
	case "leading":
		i = strings.Index(s, sub)
	case "trailing":
		i = strings.LastIndex(s, sub)
	default:
		return Null, errors.New("unknown option '" + dir + "' (leading, trailing)")
	}
	if i < 0 || s == "" {
		return String(""), nil
	}
	return String(s[i:]), nil
}

func joinToString(a []Value) (Value, error) {
	sep, ai := ", ", 0
	if len(a) == 2 {
		var err error
		if sep, err = text(a, 0); err != nil {
			return Null, err
		}
		ai = 1
	}
	arr, err := array(a, ai)
	if err != nil {
		return Null, err
	}
	parts := make([]string, len(arr))
	for i, x := range arr {
		parts[i] = emqxText(FromAny(x))
	}
	return String(strings.Join(parts, sep)), nil
}

func joinSQLValues(a []Value) (Value, error) {
	arr, err := array(a, 0)
	if err != nil {
		return Null, err
	}
	parts := make([]string, len(arr))
	for i, x := range arr {
		v := FromAny(x)
		if v.isNum() || v.k == KindBool {
			parts[i] = emqxText(v)
		} else {
			parts[i] = "'" + strings.ReplaceAll(emqxText(v), "'", "\\'") + "'"
		}
	}
	return String(strings.Join(parts, ", ")), nil
}

// sprintfFn formats like Erlang's io_lib:format for the common directives.
func sprintfFn(a []Value) (Value, error) {
	f, err := text(a, 0)
	if err != nil {
		return Null, err
	}
	args := a[1:]
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		if f[i] != '~' {
			b.WriteByte(f[i])
			continue
		}
		i++
		for i < len(f) && (f[i] == 't' || f[i] == 'l' || f[i] >= '0' && f[i] <= '9' || f[i] == '.') {
			i++ // modifiers and widths are accepted and ignored
		}
		if i >= len(f) {
			return Null, errors.New("format ends with ~")
		}
		switch f[i] {
		case '~':
			b.WriteByte('~')
			continue
		case 'n':
			b.WriteByte('\n')
			continue
		}
		if len(args) == 0 {
			return Null, errors.New("too few arguments for the format")
		}
		v := args[0]
		args = args[1:]
		switch f[i] {
		case 's':
			b.WriteString(emqxText(v))
		case 'p', 'w':
			b.WriteString(erlangTerm(v))
		case 'b', 'B':
			n, ok := v.AsInt()
			if !ok {
				return Null, errors.New("~b needs an int")
			}
			b.WriteString(strconv.FormatInt(n, 10))
		case 'f', 'e', 'g':
			x, ok := v.AsFloat()
			if !ok {
				return Null, errors.New("~" + string(f[i]) + " needs a number")
			}
			b.WriteString(strconv.FormatFloat(x, f[i], 6, 64))
		case 'c':
			n, ok := v.AsInt()
			if !ok {
				return Null, errors.New("~c needs an int")
			}
			b.WriteRune(rune(n))
		default:
			return Null, errors.New("unsupported format directive ~" + string(f[i]))
		}
	}
	if len(args) > 0 {
		return Null, errors.New("too many arguments for the format")
	}
	return String(b.String()), nil
}

// erlangTerm writes v roughly as Erlang's ~p prints it: strings as
// <<"…">>, numbers, atoms, lists and maps.
func erlangTerm(v Value) string {
	switch v.k {
	case KindString:
		return `<<"` + v.s + `">>`
	case KindFloat:
		return strconv.FormatFloat(v.f, 'g', -1, 64)
	case KindNull:
		return emqxText(v)
	}
	return v.String()
}

// unescape interprets the escapes EMQX's unescape knows.
func unescape(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 >= len(s) {
			return "", errors.New("unterminated escape")
		}
		i++
		if r, ok := simpleEscapes[s[i]]; ok {
			b.WriteByte(r)
			continue
		}
		if s[i] != 'x' || i+1 >= len(s) || !isHex(s[i+1]) {
			return "", errors.New("unrecognized escape sequence \\" + string(s[i]))
		}
		j := i + 1
		for j < len(s) && isHex(s[j]) {
			j++
		}
		n, err := strconv.ParseUint(s[i+1:j], 16, 32)
		if err != nil || n > utf8.MaxRune || !utf8.ValidRune(rune(n)) {
			return "", errors.New("invalid unicode character \\x" + s[i+1:j])
		}
		b.WriteRune(rune(n))
		i = j - 1
	}
	return b.String(), nil
}

var simpleEscapes = map[byte]byte{'\\': '\\', 'n': '\n', 't': '\t', 'r': '\r', 'b': '\b', 'f': '\f',
	'v': '\v', '\'': '\'', '"': '"', '?': '?', 'a': 7}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// base64Opts reads the options of base64_encode/base64_decode; unknown
// words are ignored, as in EMQX.
func base64Opts(a []Value) (noPad, urlSafe bool, err error) {
	for i := 1; i < len(a); i++ {
		o, err := text(a, i)
		if err != nil {
			return false, false, err
		}
		noPad = noPad || o == "no_padding"
		urlSafe = urlSafe || o == "urlsafe"
	}
	return noPad, urlSafe, nil
}

func base64Encode(a []Value) (Value, error) {
	s, err := text(a, 0)
	if err != nil {
		return Null, err
	}
	noPad, urlSafe, err := base64Opts(a)
	enc := base64.StdEncoding
	if urlSafe {
		enc = base64.URLEncoding
	}
	if noPad {
		enc = enc.WithPadding(base64.NoPadding)
	}
	return String(enc.EncodeToString([]byte(s))), err
}

func base64Decode(a []Value) (Value, error) {
	s, err := text(a, 0)
	if err != nil {
		return Null, err
	}
	noPad, urlSafe, err := base64Opts(a)
	if err != nil {
		return Null, err
	}
	encs := []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding}
	if urlSafe {
		encs = encs[2:]
	}
	if noPad {
		encs = []*base64.Encoding{encs[1], encs[0]}
	}
	for _, enc := range encs {
		if b, err := enc.DecodeString(s); err == nil {
			return String(string(b)), nil
		}
	}
	return Null, errors.New("not base64")
}
