package ota

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/storage/memstore"
)

func TestStore_uploadSignedDownloadRender(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	st, err := Open(Options{Dir: t.TempDir(), Meta: memstore.New(), BaseURL: "https://hub.example:18083/", TTL: time.Minute, MaxFileBytes: 1 << 20, Now: clock})
	require.NoError(t, err)
	body := strings.Repeat("firmware!", 1000)
	sum := sha256.Sum256([]byte(body))
	f, err := st.Put("lock-1.2.bin", strings.NewReader(body))
	require.NoError(t, err)
	require.Equal(t, hex.EncodeToString(sum[:]), f.SHA256)
	require.Equal(t, int64(len(body)), f.Size)
	_, err = st.Put("../x", strings.NewReader("x"))
	require.ErrorIs(t, err, ErrInvalid)
	_, err = st.Put("big", strings.NewReader(strings.Repeat("x", 1<<20+1)))
	require.ErrorIs(t, err, ErrInvalid)

	doc := st.Render(json.RawMessage(`{"url":"${iothub:firmware-url:lock-1.2.bin}","sha256":"${iothub:firmware-sha256:lock-1.2.bin}","size":${iothub:firmware-size:lock-1.2.bin},"other":"${iothub:firmware-url:missing}"}`))
	var d struct {
		URL, SHA256, Other string
		Size               int64
	}
	require.NoError(t, json.Unmarshal(doc, &d))
	require.Equal(t, f.SHA256, d.SHA256)
	require.Equal(t, f.Size, d.Size)
	require.Equal(t, "${iothub:firmware-url:missing}", d.Other)
	require.True(t, strings.HasPrefix(d.URL, "https://hub.example:18083/ota/lock-1.2.bin?expires="), d.URL)

	u, err := url.Parse(d.URL)
	require.NoError(t, err)
	get := func(q url.Values, rangeHdr string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/ota/lock-1.2.bin?"+q.Encode(), nil)
		if rangeHdr != "" {
			req.Header.Set("Range", rangeHdr)
		}
		w := httptest.NewRecorder()
		if err := st.ServeDownload(w, req, "lock-1.2.bin"); err != nil {
			w.Code = http.StatusForbidden
		}
		return w
	}
	w := get(u.Query(), "")
	require.Equal(t, http.StatusOK, w.Code)
	got, _ := io.ReadAll(w.Body)
	require.Equal(t, body, string(got))
	require.Equal(t, f.SHA256, w.Header().Get("X-Checksum-SHA256"))
	require.Equal(t, http.StatusPartialContent, get(u.Query(), "bytes=9-17").Code, "downloads resume")

	tampered := u.Query()
	tampered.Set("expires", tampered.Get("expires")+"0")
	require.Equal(t, http.StatusForbidden, get(tampered, "").Code)
	now = now.Add(2 * time.Minute)
	require.Equal(t, http.StatusForbidden, get(u.Query(), "").Code, "the URL expired")

	require.NoError(t, st.Delete("lock-1.2.bin"))
	_, err = st.Get("lock-1.2.bin")
	require.ErrorIs(t, err, ErrNotFound)
}
