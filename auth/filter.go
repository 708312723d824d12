package auth

import (
	"context"
	"strings"

	"github.com/iothub-dev/iothub/mqtt/topic"
)

// Access is what an identity may read of the topics a subscription filter
// can match. The broker accepts a SUBSCRIBE unless the answer is ReadNone,
// and checks each delivered message only for ReadSome.
type Access uint8

// The answers of FilterAccess.
const (
	// ReadAll: every topic the filter can match may be read.
	ReadAll Access = iota
	// ReadSome: some may and some may not (a deny rule overlaps the
	// filter, or an allow rule covers part of it): check each message.
	ReadSome
	// ReadNone: no topic the filter can match may be read.
	ReadNone
)

// String returns "all", "some" or "none".
func (a Access) String() string {
	switch a {
	case ReadAll:
		return "all"
	case ReadSome:
		return "some"
	}
	return "none"
}

// Decisions is a set of Decisions.
type Decisions uint8

// DecisionsOf returns the set of ds.
func DecisionsOf(ds ...Decision) Decisions {
	var s Decisions
	for _, d := range ds {
		s |= 1 << d
	}
	return s
}

// Has reports whether d is in the set.
func (s Decisions) Has(d Decision) bool { return s&(1<<d) != 0 }

// FilterAuthorizer is an Authorizer that can say, for a subscription
// filter ($share/group/ removed), which decisions Authorize(ActionSubscribe,
// t) may give the topic names t the filter can match: {Allow} when it
// allows them all, {Deny} when it denies them all, several when it
// depends on the topic. It may answer more decisions than really occur
// (that costs per-message checks), never fewer. The same concurrency rules
// as Authorize apply.
type FilterAuthorizer interface {
	FilterDecisions(ctx context.Context, id *Identity, filter string) Decisions
}

// FilterAccess says what id may read of the topics filter can match,
// combining the authorizers as Authorize does (any Deny wins, otherwise
// any Allow allows, otherwise Default). An authorizer that is not a
// FilterAuthorizer is asked Authorize(ActionSubscribe, filter). A nil
// chain and a superuser read everything.
func (c *AuthzChain) FilterAccess(ctx context.Context, id *Identity, filter string) Access {
	if c == nil || id != nil && id.Superuser {
		return ReadAll
	}
	denyAll, allowAll := DecisionsOf(Deny), DecisionsOf(Allow)
	var anyDeny, anyAllow, someAllowsAll bool
	for _, a := range c.Authorizers {
		var d Decisions
		if fa, ok := a.(FilterAuthorizer); ok {
			d = fa.FilterDecisions(ctx, id, filter)
		} else {
			d = DecisionsOf(a.Authorize(ctx, id, ActionSubscribe, filter))
		}
		if d == denyAll {
			return ReadNone
		}
		anyDeny = anyDeny || d.Has(Deny)
		anyAllow = anyAllow || d.Has(Allow)
		someAllowsAll = someAllowsAll || d == allowAll
	}
	switch {
	case !anyDeny && (c.Default != Deny || someAllowsAll):
		return ReadAll
	case c.Default == Deny && !anyAllow:
		return ReadNone
	}
	return ReadSome
}

// FilterDecisions implements FilterAuthorizer.
func (a *ACL) FilterDecisions(_ context.Context, id *Identity, filter string) Decisions {
	if id == nil {
		return DecisionsOf(NoOpinion)
	}
	return filterDecisions(a.rules, id, filter)
}

// FilterDecisions implements FilterAuthorizer.
func (IdentityRules) FilterDecisions(_ context.Context, id *Identity, filter string) Decisions {
	if id == nil {
		return DecisionsOf(NoOpinion)
	}
	return filterDecisions(id.rules(), id, filter)
}

// filterDecisions walks the rules as evalRules does for each topic name
// the filter can match: a rule whose filter covers the subscription
// decides every topic not decided yet (the walk ends), one that only
// overlaps it decides some; what no rule reaches gets NoOpinion.
func filterDecisions(rules []Rule, id *Identity, filter string) Decisions {
	if strings.HasPrefix(filter, topic.SharePrefix) {
		if _, inner, err := topic.SplitShare(filter); err == nil {
			filter = inner
		}
	}
	var out Decisions
	for k := range rules {
		r := &rules[k]
		if r.Action&ActionSubscribe == 0 || len(r.dynamic) != len(r.Topics) || !r.matchesWho(id) {
			continue
		}
		covered, overlap := false, false
		for i := range r.Topics {
			pattern := r.Topics[i]
			if r.dynamic[i] {
				var ok bool
				if pattern, ok = expand(pattern, id); !ok {
					continue
				}
			}
			covered = covered || covers(pattern, filter)
			overlap = overlap || overlaps(pattern, filter)
		}
		if covered {
			return out | DecisionsOf(r.Permission)
		}
		if overlap {
			out |= DecisionsOf(r.Permission)
		}
	}
	return out | DecisionsOf(NoOpinion)
}

var (
	_ FilterAuthorizer = (*ACL)(nil)
	_ FilterAuthorizer = IdentityRules{}
)
