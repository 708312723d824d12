package template_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/template"
)

func TestSplit(t *testing.T) {
	ph := func(src string, col int) template.Part { return template.Part{Source: src, Column: col} }
	lit := func(s string) template.Part { return template.Part{Lit: s} }
	tests := []struct {
		in      string
		want    []template.Part
		wantCol int // of the *Error; 0: no error
	}{
		{in: "", want: nil},
		{in: "plain/topic", want: []template.Part{lit("plain/topic")}},
		{in: "alarms/${clientid}", want: []template.Part{lit("alarms/"), ph("clientid", 10)}},
		{in: "${payload.x[2]}", want: []template.Part{ph("payload.x[2]", 3)}},
		{in: "${ key }/${a}${b}", want: []template.Part{ph("key", 4), lit("/"), ph("a", 12), ph("b", 16)}},
		{in: "cost $$5 ${n}", want: []template.Part{lit("cost $5 "), ph("n", 12)}},
		{in: "$${x}", want: []template.Part{lit("${x}")}},
		{in: "é/${id}", want: []template.Part{lit("é/"), ph("id", 5)}, wantCol: 0},
		{in: "lone $ sign", want: []template.Part{lit("lone $ sign")}},
		{in: "a/${clientid", wantCol: 3},
		{in: "a/${ }", wantCol: 3},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := template.Split(tt.in)
			if tt.wantCol > 0 {
				var e *template.Error
				require.ErrorAs(t, err, &e)
				require.Equal(t, tt.wantCol, e.Column)
				require.Contains(t, e.Error(), tt.in)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
	parts, err := template.Split("a/${x}/${y.z}")
	require.NoError(t, err)
	require.Equal(t, []string{"x", "y.z"}, template.Names(parts))
}

// FuzzSplit holds Split to its contract: no panic, and what it accepts is
// literal text and placeholders whose sources are where their columns say.
func FuzzSplit(f *testing.F) {
	for _, s := range []string{"alarms/${clientid}", "$$${a}$$", "${", "${}", "é${ b }", "${a}}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		parts, err := template.Split(s)
		if err != nil {
			var e *template.Error
			require.ErrorAs(t, err, &e)
			require.Positive(t, e.Column)
			return
		}
		runes := []rune(s)
		for _, p := range parts {
			if !p.IsPlaceholder() {
				require.NotEmpty(t, p.Lit)
				continue
			}
			require.NotEmpty(t, p.Source)
			src := []rune(p.Source) // invalid UTF-8 bytes count as one character each, as in Column
			require.LessOrEqual(t, p.Column-1+len(src), len(runes))
			require.Equal(t, src, runes[p.Column-1:p.Column-1+len(src)])
		}
	})
}
