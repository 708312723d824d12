package postgres

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Statement is a parsed statement: SQL with $1, $2, … and the name bound
// to each parameter.
type Statement struct {
	// SQL is the statement with positional parameters.
	SQL string
	// Names are the placeholder names, Names[i] being parameter $i+1.
	Names []string
	// Columns are the 1-based columns (in characters) of each name's first
	// placeholder, for error messages.
	Columns []int
}

// StatementError is a statement refused by ParseStatement.
type StatementError struct {
	// Column is the 1-based column (in characters) of the problem.
	Column int
	// Msg says what is wrong.
	Msg string
}

// Error implements error.
func (e *StatementError) Error() string {
	return fmt.Sprintf("column %d: %s", e.Column, e.Msg)
}

// ParseStatement turns the ${name} placeholders of s into $1, $2, … (a
// name used twice is one parameter). Quoted literals ('…', E'…'), quoted
// identifiers ("…"), dollar-quoted strings ($tag$…$tag$) and comments are
// copied as they are; a placeholder inside one is refused, as are $n
// parameters and an empty or unterminated placeholder.
func ParseStatement(s string) (*Statement, error) {
	st := &Statement{}
	var out strings.Builder
	index := map[string]int{}
	col := func(i int) int { return utf8.RuneCountInString(s[:i]) + 1 }
	for i := 0; i < len(s); {
		if end, what := skipQuoted(s, i); end > i {
			if j := strings.Index(s[i:end], "${"); j >= 0 {
				return nil, &StatementError{col(i + j), "placeholder inside " + what + ": write ${name} unquoted, it is bound as a parameter"}
			}
			out.WriteString(s[i:end])
			i = end
			continue
		}
		c := s[i]
		if c != '$' {
			out.WriteByte(c)
			i++
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "${"):
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return nil, &StatementError{col(i), "unterminated ${"}
			}
			name := strings.TrimSpace(s[i+2 : i+end])
			if name == "" {
				return nil, &StatementError{col(i), "empty placeholder ${}"}
			}
			n, ok := index[name]
			if !ok {
				st.Names = append(st.Names, name)
				st.Columns = append(st.Columns, col(i+2))
				n = len(st.Names)
				index[name] = n
			}
			out.WriteString("$" + strconv.Itoa(n))
			i += end + 1
		case i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			return nil, &StatementError{col(i), "positional parameter $n: use ${name} placeholders"}
		default:
			out.WriteByte(c)
			i++
		}
	}
	if len(st.Names) > 65535 {
		return nil, &StatementError{1, "more than 65535 placeholders"}
	}
	st.SQL = out.String()
	return st, nil
}

// skipQuoted returns the end of the quoted literal, identifier or comment
// that starts at i and what it is, or i when none starts there. An
// unterminated one runs to the end of s (the server reports it).
func skipQuoted(s string, i int) (int, string) {
	switch {
	case s[i] == '\'':
		return closeQuote(s, i+1, '\''), "a quoted literal"
	case s[i] == '"':
		return closeQuote(s, i+1, '"'), "a quoted identifier"
	case strings.HasPrefix(s[i:], "--"):
		if j := strings.IndexByte(s[i:], '\n'); j >= 0 {
			return i + j + 1, "a comment"
		}
		return len(s), "a comment"
	case strings.HasPrefix(s[i:], "/*"):
		if j := strings.Index(s[i+2:], "*/"); j >= 0 {
			return i + 2 + j + 2, "a comment"
		}
		return len(s), "a comment"
	case s[i] == '$' && !strings.HasPrefix(s[i:], "${"):
		tag, ok := dollarTag(s[i:])
		if !ok {
			return i, ""
		}
		if j := strings.Index(s[i+len(tag):], tag); j >= 0 {
			return i + len(tag) + j + len(tag), "a dollar-quoted string"
		}
		return len(s), "a dollar-quoted string"
	}
	return i, ""
}

// closeQuote returns the index after the quote q closing a quoted text
// that starts at i (a doubled quote is part of the text).
func closeQuote(s string, i int, q byte) int {
	for i < len(s) {
		if s[i] != q {
			i++
			continue
		}
		if i+1 < len(s) && s[i+1] == q {
			i += 2
			continue
		}
		return i + 1
	}
	return len(s)
}

// dollarTag returns the $tag$ (or $$) opening a dollar-quoted string at
// the start of s.
func dollarTag(s string) (string, bool) {
	for j := 1; j < len(s); j++ {
		c := s[j]
		switch {
		case c == '$':
			return s[:j+1], true
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80 || (j > 1 && c >= '0' && c <= '9'):
		default:
			return "", false
		}
	}
	return "", false
}
