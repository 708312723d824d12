package auth

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDecodeBans(t *testing.T) {
	until := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name    string
		data    string
		want    []Ban
		wantErr string
	}{
		{name: "empty list", data: `{"version":1,"bans":[]}`, want: []Ban{}},
		{name: "no bans key", data: `{"version":1}`},
		{name: "three kinds", data: `{"version":1,"bans":[
			{"kind":"client_id","value":"lock-7","reason":"stolen"},
			{"kind":"username","value":"mallory","until":"2030-01-02T03:04:05Z"},
			{"kind":"address","value":"198.51.100.0/24"}]}`,
			want: []Ban{
				{Kind: BanClientID, Value: "lock-7", Reason: "stolen"},
				{Kind: BanUsername, Value: "mallory", Until: until},
				{Kind: BanAddress, Value: "198.51.100.0/24"},
			}},
		{name: "not json", data: `{"version":1,`, wantErr: "decode"},
		{name: "wrong version", data: `{"version":2,"bans":[]}`, wantErr: "unsupported version 2"},
		{name: "no version", data: `{"bans":[]}`, wantErr: "unsupported version 0"},
		{name: "bad kind", data: `{"version":1,"bans":[{"kind":"host","value":"x"}]}`, wantErr: "bans.0"},
		{name: "empty value", data: `{"version":1,"bans":[{"kind":"client_id","value":"x"},{"kind":"client_id"}]}`, wantErr: "bans.1"},
		{name: "bad address", data: `{"version":1,"bans":[{"kind":"address","value":"nope"}]}`, wantErr: "bans.0"},
		{name: "bad time", data: `{"version":1,"bans":[{"kind":"client_id","value":"x","until":"soon"}]}`, wantErr: "decode"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeBans([]byte(tc.data))
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestLoadBanList_file(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	tests := []struct {
		name    string
		file    string // "" : no file
		wantErr string
		want    []string // kind/value of the bans loaded
	}{
		{name: "missing file", want: nil},
		{name: "expired bans dropped", file: `{"version":1,"bans":[
			{"kind":"client_id","value":"old","until":"` + now.Add(-time.Hour).Format(time.RFC3339) + `"},
			{"kind":"client_id","value":"new","until":"` + now.Add(time.Hour).Format(time.RFC3339) + `"},
			{"kind":"address","value":"192.0.2.7"}]}`, want: []string{"address/192.0.2.7", "client_id/new"}},
		{name: "corrupt file names it", file: `{"version":1,"bans":[`, wantErr: BanFile},
		{name: "bad ban names it", file: `{"version":1,"bans":[{"kind":"x","value":"y"}]}`, wantErr: BanFile + ": bans.0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), BanFile)
			if tc.file != "" {
				require.NoError(t, os.WriteFile(path, []byte(tc.file), 0o600))
			}
			b, err := LoadBanList(path)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			var got []string
			for _, ban := range b.List() {
				got = append(got, string(ban.Kind)+"/"+ban.Value)
			}
			require.Equal(t, tc.want, got)
		})
	}
}

// stored returns the kind/value of the bans in the file at path.
func stored(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	bans, err := DecodeBans(data)
	require.NoError(t, err)
	out := []string{}
	for _, ban := range bans {
		out = append(out, string(ban.Kind)+"/"+ban.Value)
	}
	return out
}

func TestBanList_persists(t *testing.T) {
	ip := netip.MustParseAddr("203.0.113.9")
	tests := []struct {
		name string
		do   func(t *testing.T, b *BanList)
		want []string // in the file afterwards
	}{
		{name: "run-time add is written", do: func(t *testing.T, b *BanList) {
			require.NoError(t, b.Add(Ban{Kind: BanClientID, Value: "lock-7"}))
			require.NoError(t, b.Add(Ban{Kind: BanAddress, Value: "198.51.100.0/24"}))
		}, want: []string{"address/198.51.100.0/24", "client_id/lock-7"}},
		{name: "remove is written", do: func(t *testing.T, b *BanList) {
			require.NoError(t, b.Add(Ban{Kind: BanClientID, Value: "lock-7"}))
			require.NoError(t, b.Add(Ban{Kind: BanUsername, Value: "mallory"}))
			removed, err := b.Remove(BanClientID, "lock-7")
			require.NoError(t, err)
			require.True(t, removed)
		}, want: []string{"username/mallory"}},
		{name: "static bans are not written", do: func(t *testing.T, b *BanList) {
			require.NoError(t, b.AddStatic(Ban{Kind: BanClientID, Value: "from-config"}))
			require.NoError(t, b.Add(Ban{Kind: BanClientID, Value: "from-api"}))
		}, want: []string{"client_id/from-api"}},
		{name: "static replaces run-time", do: func(t *testing.T, b *BanList) {
			require.NoError(t, b.Add(Ban{Kind: BanClientID, Value: "both"}))
			require.NoError(t, b.AddStatic(Ban{Kind: BanClientID, Value: "both"}))
			require.NoError(t, b.Add(Ban{Kind: BanClientID, Value: "other"}))
		}, want: []string{"client_id/other"}},
		{name: "failure bans are not written", do: func(t *testing.T, b *BanList) {
			f := &FailureTracker{MaxFailures: 1, Window: time.Minute, BanFor: time.Hour, Bans: b}
			require.True(t, f.Fail(ip))
			require.NoError(t, b.Add(Ban{Kind: BanUsername, Value: "mallory"}))
			require.Len(t, b.List(), 2)
		}, want: []string{"username/mallory"}},
		{name: "RemoveStatic leaves run-time bans", do: func(t *testing.T, b *BanList) {
			require.NoError(t, b.Add(Ban{Kind: BanClientID, Value: "lock-7"}))
			require.False(t, b.RemoveStatic(BanClientID, "lock-7"))
			require.NoError(t, b.AddStatic(Ban{Kind: BanClientID, Value: "cfg"}))
			require.True(t, b.RemoveStatic(BanClientID, "cfg"))
		}, want: []string{"client_id/lock-7"}},
		{name: "expired bans are not written", do: func(t *testing.T, b *BanList) {
			require.NoError(t, b.Add(Ban{Kind: BanClientID, Value: "gone", Until: time.Now().Add(-time.Second)}))
			require.NoError(t, b.Add(Ban{Kind: BanClientID, Value: "kept", Until: time.Now().Add(time.Hour)}))
		}, want: []string{"client_id/kept"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "data", BanFile)
			b, err := LoadBanList(path)
			require.NoError(t, err)
			tc.do(t, b)
			require.Equal(t, tc.want, stored(t, path))
			info, err := os.Stat(path)
			require.NoError(t, err)
			require.Equal(t, os.FileMode(0o600), info.Mode().Perm())

			again, err := LoadBanList(path) // a restart
			require.NoError(t, err)
			var got []string
			for _, ban := range again.List() {
				got = append(got, string(ban.Kind)+"/"+ban.Value)
			}
			require.Equal(t, tc.want, got)
		})
	}
}

func TestBanList_failedWriteChangesNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, BanFile)
	b, err := LoadBanList(path)
	require.NoError(t, err)
	require.NoError(t, b.Add(Ban{Kind: BanClientID, Value: "lock-7"}))
	// A directory where the file should be makes the rename fail.
	require.NoError(t, os.Remove(path))
	require.NoError(t, os.Mkdir(path, 0o700))
	require.ErrorContains(t, b.Add(Ban{Kind: BanClientID, Value: "lock-8"}), BanFile)
	removed, err := b.Remove(BanClientID, "lock-7")
	require.ErrorContains(t, err, BanFile)
	require.False(t, removed)
	var got []string
	for _, ban := range b.List() {
		got = append(got, ban.Value)
	}
	require.Equal(t, []string{"lock-7"}, got)
}
