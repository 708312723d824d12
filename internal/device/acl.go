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
	if id != nil && ownThing(id.ClientID, topic) {
		return auth.Allow
	}
	return auth.Deny
}

// ownThing says whether topic (a name or a filter) is one of the thing
// topics of clientID. A client id that is not a thing name never owns
// any: a client named "+" would otherwise be granted the filter
// "$aws/things/+/shadow/#", every thing's shadows.
func ownThing(clientID, topic string) bool {
	if thing.ValidName(clientID, thing.MaxNameLen) != nil {
		return false
	}
	t, ok := thing.Parse(topic)
	return ok && t.Thing == clientID
}

// FilterAccess says what id may read of the topics a subscription filter
// can match (the broker accepts a SUBSCRIBE unless ReadNone and checks
// each message under ReadSome): outside "$aws/" the chain answers; on an
// "$aws/" filter, Authorize on the filter decides all or nothing.
func (a *ThingACL) FilterAccess(ctx context.Context, id *auth.Identity, filter string) auth.Access {
	if !strings.HasPrefix(filter, thing.Reserved) {
		return a.Chain.FilterAccess(ctx, id, filter)
	}
	if a.Authorize(ctx, id, auth.ActionSubscribe, filter) == auth.Allow {
		return auth.ReadAll
	}
	return auth.ReadNone
}

var _ auth.Authorizer = (*ThingACL)(nil)
