package rule

import (
	"crypto/hmac"
	"crypto/md5"  //nolint:gosec // md5() is an EMQX rule function users call for checksums, not for security
	"crypto/sha1" //nolint:gosec // sha() is an EMQX rule function, as md5
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"hash"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

func init() {
	strFn("lower", strings.ToLower).doc = "lower(s) — lower case: lower('AbC') = 'abc'"
	strFn("upper", strings.ToUpper).doc = "upper(s) — upper case: upper('abc') = 'ABC'"
	strFn("trim", strings.TrimSpace).doc = "trim(s) — strip leading and trailing white space: trim(' a ') = 'a'"
	strFn("ltrim", func(s string) string { return strings.TrimLeft(s, " \t\r\n") }).doc =
		"ltrim(s) — strip leading white space: ltrim(' a ') = 'a '"
	strFn("rtrim", func(s string) string { return strings.TrimRight(s, " \t\r\n") }).doc =
		"rtrim(s) — strip trailing white space: rtrim(' a ') = ' a'"
	strFn("reverse", reverse).doc = "reverse(s) — characters in reverse order: reverse('abc') = 'cba'"
	pure("strlen", 1, 1, func(a []Value) (Value, error) {
		s, err := text(a, 0)
		return Int(int64(utf8.RuneCountInString(s))), err
	}).doc = "strlen(s) — number of characters: strlen('héllo') = 5"
	pure("substr", 2, 3, substr).doc = "substr(s, start[, len]) — characters from 0-based start: substr('hello', 1, 3) = 'ell'"
	pure("concat", 1, -1, concat).doc = "concat(a, b, …) — join as text: concat('a', 1, true) = 'a1true'"
	pure("join", 2, 2, join).doc = "join(sep, array) — join elements as text: join('-', ['a', 1]) = 'a-1'"
	pure("starts_with", 2, 2, strPred(strings.HasPrefix)).doc = "starts_with(s, prefix) — starts_with('devices/1', 'devices/') = true"
	pure("ends_with", 2, 2, strPred(strings.HasSuffix)).doc = "ends_with(s, suffix) — ends_with('a.json', '.json') = true"
	regexFn("regex_match", 2, regexMatch).doc = "regex_match(s, re) — whether RE2 expression re matches part of s: regex_match('abc123', '[0-9]+$') = true"
	regexFn("regex_replace", 3, regexReplace).doc = "regex_replace(s, re, repl) — replace every match; & in repl is the match, \\1 a group: regex_replace('accbcd', 'c+', '[&]') = 'a[cc]b[c]d'"
	regexFn("regex_extract", 2, regexExtract).doc = "regex_extract(s, re) — the groups of the first match, [] if none: regex_extract('t=21.5C', '([0-9.]+)') = ['21.5']"
	pure("hex_encode", 1, 1, strErrFn(func(s string) (string, error) { return hex.EncodeToString([]byte(s)), nil })).doc =
		"hex_encode(s) — lower-case hex of the bytes: hex_encode('hi') = '6869'"
	pure("hex_decode", 1, 1, strErrFn(func(s string) (string, error) {
		b, err := hex.DecodeString(s)
		return string(b), err
	})).doc = "hex_decode(s) — bytes of a hex string: hex_decode('6869') = 'hi'"
	hashFn("md5", md5.New).doc = "md5(s) — hex MD5 digest: md5('') = 'd41d8cd98f00b204e9800998ecf8427e'"
	hashFn("sha1", sha1.New).doc = "sha1(s) — hex SHA-1 digest"
	hashFn("sha", sha1.New).doc = "sha(s) — hex SHA-1 digest (EMQX's name): sha('hello') = 'aaf4c61d…'"
	hashFn("sha256", sha256.New).doc = "sha256(s) — hex SHA-256 digest: sha256('abc') = 'ba7816bf…'"
	h := pure("hmac", 3, 3, hmacFn)
	h.doc = "hmac(alg, key, data) — hex HMAC with md5, sha1, sha256 or sha512: hmac('sha256', 'key', 'data')"
	h.check = func(lits []*Value) (int, error) {
		if alg, ok := constString(lits, 0); ok && hashes[alg] == nil {
			return 0, errors.New("unknown algorithm '" + alg + "' (md5, sha1, sha256, sha512)")
		}
		return 0, nil
	}
}

func strFn(name string, f func(string) string) *funcSpec {
	return pure(name, 1, 1, func(a []Value) (Value, error) {
		s, err := text(a, 0)
		return String(f(s)), err
	})
}

func strErrFn(f func(string) (string, error)) func([]Value) (Value, error) {
	return func(a []Value) (Value, error) {
		s, err := text(a, 0)
		if err != nil {
			return Null, err
		}
		r, err := f(s)
		if err != nil {
			return Null, err
		}
		return String(r), nil
	}
}

func strPred(f func(s, t string) bool) func([]Value) (Value, error) {
	return func(a []Value) (Value, error) {
		s, err := text(a, 0)
		if err != nil {
			return Null, err
		}
		t, err := text(a, 1)
		return Bool(f(s, t)), err
	}
}

func text3(a []Value) (x, y, z string, err error) {
	if x, err = text(a, 0); err != nil {
		return
	}
	if y, err = text(a, 1); err != nil {
		return
	}
	z, err = text(a, 2)
	return
}

func reverse(s string) string {
	r := []rune(s)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	return string(r)
}

func substr(a []Value) (Value, error) {
	s, err := text(a, 0)
	if err != nil {
		return Null, err
	}
	start, err := integer(a, 1)
	if err != nil {
		return Null, err
	}
	r := []rune(s)
	n := int64(len(r))
	start = max(0, min(start, n))
	end := n
	if len(a) == 3 {
		l, err := integer(a, 2)
		if err != nil {
			return Null, err
		}
		end = min(n, start+max(0, l))
	}
	return String(string(r[start:end])), nil
}

func concat(a []Value) (Value, error) {
	var b []byte
	for _, v := range a {
		b = v.appendText(b)
	}
	return String(string(b)), nil
}

func join(a []Value) (Value, error) {
	sep, err := text(a, 0)
	if err != nil {
		return Null, err
	}
	arr, err := array(a, 1)
	if err != nil {
		return Null, err
	}
	var b []byte
	for i, x := range arr {
		if i > 0 {
			b = append(b, sep...)
		}
		b = FromAny(x).appendText(b)
	}
	return String(string(b)), nil
}

var hashes = map[string]func() hash.Hash{"md5": md5.New, "sha1": sha1.New, "sha256": sha256.New, "sha512": sha512.New}

func hashFn(name string, h func() hash.Hash) *funcSpec {
	return pure(name, 1, 1, strErrFn(func(s string) (string, error) {
		d := h()
		d.Write([]byte(s))
		return hex.EncodeToString(d.Sum(nil)), nil
	}))
}

func hmacFn(a []Value) (Value, error) {
	alg, key, data, err := text3(a)
	if err != nil {
		return Null, err
	}
	h := hashes[alg]
	if h == nil {
		return Null, errors.New("unknown algorithm '" + alg + "'")
	}
	m := hmac.New(h, []byte(key))
	m.Write([]byte(data))
	return String(hex.EncodeToString(m.Sum(nil))), nil
}

// Regular expressions are RE2 (Go regexp). A constant pattern is checked
// when the rule is created; compiled patterns are cached (up to
// maxCachedRegexps distinct ones).
const maxCachedRegexps = 1024

var (
	regexCache sync.Map // pattern → *regexp.Regexp
	regexCount atomic.Int32
)

func compileRegex(pattern string) (*regexp.Regexp, error) {
	if re, ok := regexCache.Load(pattern); ok {
		return re.(*regexp.Regexp), nil
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, err
	}
	if regexCount.Load() < maxCachedRegexps {
		if _, loaded := regexCache.LoadOrStore(pattern, re); !loaded {
			regexCount.Add(1)
		}
	}
	return re, nil
}

func regexFn(name string, n int, f func(re *regexp.Regexp, a []Value) (Value, error)) *funcSpec {
	s := pure(name, n, n, func(a []Value) (Value, error) {
		pattern, err := text(a, 1)
		if err != nil {
			return Null, err
		}
		re, err := compileRegex(pattern)
		if err != nil {
			return Null, err
		}
		return f(re, a)
	})
	s.check = func(lits []*Value) (int, error) {
		if p, ok := constString(lits, 1); ok {
			if _, err := compileRegex(p); err != nil {
				return 1, err
			}
		}
		return 0, nil
	}
	return s
}

func regexMatch(re *regexp.Regexp, a []Value) (Value, error) {
	s, err := text(a, 0)
	return Bool(re.MatchString(s)), err
}

func regexReplace(re *regexp.Regexp, a []Value) (Value, error) {
	s, err := text(a, 0)
	if err != nil {
		return Null, err
	}
	repl, err := text(a, 2)
	return String(re.ReplaceAllString(s, erlangReplacement(repl))), err
}

// erlangReplacement turns a replacement in Erlang's re:replace form (& is
// the whole match, \N or \g{N} group N, \& a literal &) into Go's.
func erlangReplacement(r string) string {
	var b strings.Builder
	for i := 0; i < len(r); i++ {
		c := r[i]
		switch {
		case c == '$':
			b.WriteString("$$")
		case c == '&':
			b.WriteString("${0}")
		case c == '\\' && i+1 < len(r) && r[i+1] >= '0' && r[i+1] <= '9':
			j := i + 1
			for j < len(r) && r[j] >= '0' && r[j] <= '9' {
				j++
			}
			b.WriteString("${" + r[i+1:j] + "}")
			i = j - 1
		case c == '\\' && i+1 < len(r) && (r[i+1] == '&' || r[i+1] == '\\'):
			b.WriteByte(r[i+1])
			i++
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// regexExtract returns the groups of the first match (all of them but the
// whole match), or [] when nothing matches, as EMQX does.
func regexExtract(re *regexp.Regexp, a []Value) (Value, error) {
	s, err := text(a, 0)
	if err != nil {
		return Null, err
	}
	m := re.FindStringSubmatch(s)
	out := make([]any, 0, max(0, len(m)-1))
	for i := 1; i < len(m); i++ {
		out = append(out, m[i])
	}
	return Array(out), nil
}
