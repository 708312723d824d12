package api

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/iothub-dev/iothub/auth"
)

// aclBody is the body of POST /api/v1/acl/check: "may this client
// publish to (or subscribe to) this topic?".
type aclBody struct {
	ClientID  string `json:"client_id"`
	Username  string `json:"username"`
	IP        string `json:"ip"`
	Action    string `json:"action"`
	Topic     string `json:"topic"`
	Superuser bool   `json:"superuser"`
}

// aclAnswer is the ACL's verdict.
type aclAnswer struct {
	Allowed bool `json:"allowed"`
	// Decision is the chain's answer: allow, deny, or no_opinion (no
	// authorizer in force: allowed).
	Decision string `json:"decision"`
	// Reason says why, when the answer does not come from the ACL, or
	// what a partly readable subscription means.
	Reason string `json:"reason,omitempty"`
	// Read is, for subscribe, what the client may read of the topics the
	// filter can match: all, some (each message is checked) or none (the
	// SUBSCRIBE is refused).
	Read string `json:"read,omitempty"`
}

// filterAccesser is the read-access question of auth.AuthzChain (and of
// the authorizers that wrap one).
type filterAccesser interface {
	FilterAccess(ctx context.Context, id *auth.Identity, filter string) auth.Access
}

// aclCheck answers POST /api/v1/acl/check with the ACL in force (the same
// authorizers a device's PUBLISH or SUBSCRIBE meets; rules that came with
// a device's credentials, such as JWT claims, are not known here).
func (a *API) aclCheck(w http.ResponseWriter, r *http.Request) error {
	var b aclBody
	if err := decodeBody(r.Body, &b); err != nil {
		return err
	}
	id := &auth.Identity{ClientID: b.ClientID, Username: b.Username, Anonymous: b.Username == "", Superuser: b.Superuser}
	if b.IP != "" {
		ip, err := netip.ParseAddr(b.IP)
		if err != nil {
			return badField("ip", "%q is not an IP address", b.IP)
		}
		id.IP = ip
	}
	var action auth.Action
	switch b.Action {
	case "publish":
		action = auth.ActionPublish
	case "subscribe":
		action = auth.ActionSubscribe
	default:
		return badField("action", "%q: must be publish or subscribe", b.Action)
	}
	if b.Topic == "" {
		return badField("topic", "required")
	}
	if action == auth.ActionPublish && strings.HasPrefix(b.Topic, "$") {
		writeJSON(w, http.StatusOK, aclAnswer{Decision: auth.Deny.String(), Reason: "clients may not publish to $-topics"})
		return nil
	}
	var authz auth.Authorizer
	if a.o.ACL != nil {
		authz = a.o.ACL()
	}
	d := auth.NoOpinion
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if fa, ok := authz.(filterAccesser); ok && action == auth.ActionSubscribe {
		writeJSON(w, http.StatusOK, readAnswer(fa.FilterAccess(ctx, id, b.Topic)))
		return nil
	}
	if authz != nil {
		d = authz.Authorize(ctx, id, action, b.Topic)
	}
	writeJSON(w, http.StatusOK, aclAnswer{Allowed: d != auth.Deny, Decision: d.String()})
	return nil
}

// readAnswer is the verdict on a subscription: refused only when it can
// match nothing readable.
func readAnswer(a auth.Access) aclAnswer {
	ans := aclAnswer{Allowed: a != auth.ReadNone, Decision: auth.Allow.String(), Read: a.String()}
	switch a {
	case auth.ReadNone:
		ans.Decision = auth.Deny.String()
	case auth.ReadSome:
		ans.Reason = "some topics the filter matches may not be read: each message is checked"
	}
	return ans
}
