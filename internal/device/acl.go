package device

import (
	"context"
	"strings"

	"github.com/iothub-dev/iothub/auth"
	"github.com/iothub-dev/iothub/internal/device/thing"
)

// ThingACL authorizes the reserved "$aws/" topics and passes every other
// topic to the hub's ACL. On "$aws/…" it asks the configured authorizers
// (explicit rules, the identity's own rules): any deny refuses, any allow
// grants. When none has an opinion, a client may use the topics of the
// thing named like its client id, "$aws/things/{client id}/…", and
// nothing else under "$aws/": so a backend needs an explicit rule (or a
// superuser) to read or update other things' shadows or to subscribe to
// "$aws/events/…".
type ThingACL struct {
	// Chain is the hub's ACL; its Authorizers are asked on "$aws/" topics
	// too. A nil Chain allows everything outside "$aws/".
	Chain *auth.AuthzChain
}

// Authorize implements auth.Authorizer.
func (a *ThingACL) Authorize(ctx context.Context, id *auth.Identity, action auth.Action, topic string) auth.Decision {
	if !strings.HasPrefix(topic, thing.Reserved) {
		return a.Chain.Authorize(ctx, id, action, topic)
	}
	if id != nil && id.Superuser {
		return auth.Allow
	}
	if a.Chain != nil {
		allowed := false
		for _, z := range a.Chain.Authorizers {
			switch z.Authorize(ctx, id, action, topic) {
			case auth.Deny:
				return auth.Deny
			case auth.Allow:
				allowed = true
			}
		}
		if allowed {
			return auth.Allow
		}
	}
	if id != nil && id.ClientID != "" {
		if t, ok := thing.Parse(topic); ok && t.Thing == id.ClientID {
			return auth.Allow
		}
	}
	return auth.Deny
}

var _ auth.Authorizer = (*ThingACL)(nil)
