package postgres

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseStatement(t *testing.T) {
	for _, tc := range []struct {
		in, sql string
		names   []string
		errCol  int
	}{
		{in: "INSERT INTO t (device, ts, payload) VALUES (${clientid}, ${timestamp}, ${payload})",
			sql: "INSERT INTO t (device, ts, payload) VALUES ($1, $2, $3)", names: []string{"clientid", "timestamp", "payload"}},
		{in: "INSERT INTO t VALUES (${ clientid }, ${clientid}, ${payload.temp})",
			sql: "INSERT INTO t VALUES ($1, $1, $2)", names: []string{"clientid", "payload.temp"}},
		{in: "INSERT INTO t VALUES ('$x', \"a\"\"${\", ${a}) -- ${\n", errCol: 33},
		{in: "INSERT INTO t VALUES ('it''s', ${a}) -- note\n/* c */", sql: "INSERT INTO t VALUES ('it''s', $1) -- note\n/* c */", names: []string{"a"}},
		{in: "INSERT INTO t VALUES ($tag$ ${a} $tag$)", errCol: 29},
		{in: "INSERT INTO t VALUES ($$x$$, ${a}::jsonb)", sql: "INSERT INTO t VALUES ($$x$$, $1::jsonb)", names: []string{"a"}},
		{in: "INSERT INTO t VALUES ('${clientid}')", errCol: 24},
		{in: "INSERT INTO t VALUES ($1)", errCol: 23},
		{in: "INSERT INTO t VALUES (${a)", errCol: 23},
		{in: "INSERT INTO t VALUES (${})", errCol: 23},
		{in: "SELECT price$ FROM t", sql: "SELECT price$ FROM t"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			st, err := ParseStatement(tc.in)
			if tc.errCol != 0 {
				var se *StatementError
				require.ErrorAs(t, err, &se)
				require.Equal(t, tc.errCol, se.Column, se.Error())
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.sql, st.SQL)
			require.Equal(t, tc.names, st.Names)
		})
	}
}

// FuzzParseStatement: no input panics; a parsed statement has as many
// distinct $n as names, and no ${ outside quoted text.
func FuzzParseStatement(f *testing.F) {
	for _, s := range []string{"INSERT INTO t VALUES (${a}, ${b})", "'${a}'", "$tag$ x $tag$ ${a}", "${", "$1", "-- ${a}\n${b}", "/* ${a}", "\"x\"\"${\""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		st, err := ParseStatement(s)
		if err != nil {
			return
		}
		require.LessOrEqual(t, len(st.Names), len(s)/3)
		require.Len(t, st.Columns, len(st.Names))
	})
}
