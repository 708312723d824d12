package registry

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/iothub-dev/iothub/storage/memstore"
)

// FuzzImport feeds the CSV and JSON-lines import any input: it must
// answer without panicking, account for every device it says it created
// (each one can be read back and is counted by the registry), and never
// list more failures than rows.
func FuzzImport(f *testing.F) {
	f.Add(true, []byte("id,enabled,groups,attr.model\nlock-2,true,fleet,L2\nlock-3,false,fleet;beta,L2\n"))
	f.Add(true, []byte("id,password_hash,cert_fingerprint\nlock-1,$2a$04$abc,AB:CD\n,,\n\"un,closed\n"))
	f.Add(true, []byte("id,nope\nx,y\n"))
	f.Add(false, []byte(`{"id":"lock-1","groups":["fleet"],"attributes":{"model":"L1"},"enabled":true}`+"\n"+`{"id":"a/b"}`+"\n{"))
	f.Add(false, []byte(`{"id":"lock-1","unknown":1}`+"\n\n"+`{"id":"lock-1"}`))
	f.Fuzz(func(t *testing.T, csv bool, data []byte) {
		format := "jsonl"
		if csv {
			format = "csv"
		}
		r := New(Options{Store: memstore.New(), BcryptCost: bcrypt.MinCost})
		res, err := r.Import(bytes.NewReader(data), format, true)
		if err != nil {
			require.Zero(t, res.Created+res.Updated, "a refused input applies nothing")
			return
		}
		n, err := r.Count()
		require.NoError(t, err)
		require.Equal(t, res.Created, n, "every created device is in the registry")
		require.LessOrEqual(t, len(res.Failed)+res.Created+res.Updated, bytes.Count(data, []byte("\n"))+1)
		for _, e := range res.Failed {
			require.NotEmpty(t, e.Error)
			require.Positive(t, e.Line)
		}
	})
}
