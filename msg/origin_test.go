package msg

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestOrigin_stringRoundTrip(t *testing.T) {
	tests := []struct {
		o    Origin
		text string
	}{
		{Origin{}, ""},
		{Origin{Kind: OriginClient}, "client"},
		{Origin{Kind: OriginAPI}, "api"},
		{Origin{Kind: OriginRule, Name: "a,b"}, "rule:a,b"},
		{Origin{Kind: OriginBridge, Name: "north"}, "bridge:north"},
		{Origin{Kind: OriginWill}, "will"},
		{Origin{Kind: OriginSys}, "sys"},
	}
	for _, tc := range tests {
		t.Run(tc.text, func(t *testing.T) {
			require.Equal(t, tc.text, tc.o.String())
			require.Equal(t, tc.o, ParseOrigin(tc.text))
		})
	}
	require.Equal(t, Origin{Name: "martian"}, ParseOrigin("martian"))
	require.Nil(t, Origin{Kind: OriginClient}.RuleChain())
}
