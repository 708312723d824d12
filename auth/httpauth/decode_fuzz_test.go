package httpauth

import (
	"testing"

	"github.com/iothub-dev/iothub/auth"
)

// FuzzDecodeAnswer: whatever the authentication service answers with
// status 200, the decision is one of allow, deny or pass (never a panic),
// and an allow admits the requesting client id.
func FuzzDecodeAnswer(f *testing.F) {
	for _, s := range []string{
		`{"result":"allow"}`,
		`{"result":"allow","is_superuser":true,"acl":["allow publish devices/%c/state"],"client_ids":["lock-*"]}`,
		`{"result":"allow","client_ids":["%u"]}`,
		`{"result":"deny"}`, `{"result":"ignore"}`, `{"result":"maybe"}`,
		`{"result":"allow","acl":["nonsense"]}`, `{"result":"allow","client_ids":[""]}`,
		``, `null`, `[]`, `{"result":1}`,
	} {
		f.Add([]byte(s), "lock-1", "lock-1")
	}
	a, err := New(Options{URL: "http://127.0.0.1:1/auth", OnError: "deny"})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(a.Close)
	f.Fuzz(func(t *testing.T, data []byte, clientID, username string) {
		r, _ := a.decode(data, &request{ClientID: clientID, Username: username})
		switch r.Decision {
		case auth.Allow:
			if r.Identity == nil || r.Identity.ClientID != clientID {
				t.Fatalf("allow without the client's identity: %+v", r.Identity)
			}
		case auth.Deny, auth.NoOpinion:
		default:
			t.Fatalf("decision %v", r.Decision)
		}
	})
}
