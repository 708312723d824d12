package auth

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/iothub-dev/iothub/mqtt/topic"
)

// ErrBadRule is returned (wrapped) for an ACL rule that cannot be parsed or
// built.
var ErrBadRule = errors.New("auth: invalid ACL rule")

// Who says which clients a Rule applies to: exactly one field is set.
type Who struct {
	// ClientID matches one client id.
	ClientID string `json:"client_id,omitempty"`
	// Username matches one authenticated username (never an anonymous
	// client's unverified one).
	Username string `json:"username,omitempty"`
	// Address matches the peer's IP: an address or a CIDR prefix.
	Address string `json:"address,omitempty"`
	// All matches every client.
	All bool `json:"all,omitempty"`
}

// Rule is one ACL rule: Permission (Allow or Deny) for the clients named by
// Who, for Action, on Topics. Topic filters may hold the placeholders %c
// (the client id) and %u (the username); a rule whose placeholder would be
// empty, or would bring a '/', '+' or '#' of the client id or username into
// the filter, does not match. Build rules with NewRule or ParseRule.
//
// A publish matches when a filter matches the topic name. A subscription
// matches an Allow rule when a filter covers every topic the subscribed
// filter can match, and a Deny rule when a filter shares any topic with
// it: so "allow subscribe devices/%c/command" does not allow
// "devices/+/command", and "deny subscribe devices/secret/#" refuses
// "devices/#".
type Rule struct {
	// Permission is Allow or Deny.
	Permission Decision
	// Who names the clients.
	Who Who
	// Action is ActionPublish, ActionSubscribe or ActionAll.
	Action Action
	// Topics are topic filters, with placeholders.
	Topics []string

	addr    netip.Prefix // Who.Address, parsed
	dynamic []bool       // Topics[i] holds a placeholder
}

// NewRule checks and builds a rule.
func NewRule(perm Decision, who Who, action Action, topics []string) (Rule, error) {
	r := Rule{Permission: perm, Who: who, Action: action, Topics: topics}
	if err := r.compile(); err != nil {
		return Rule{}, err
	}
	return r, nil
}

func (r *Rule) compile() error {
	if r.Permission != Allow && r.Permission != Deny {
		return fmt.Errorf("%w: permission must be allow or deny", ErrBadRule)
	}
	if r.Action != ActionPublish && r.Action != ActionSubscribe && r.Action != ActionAll {
		return fmt.Errorf("%w: action must be publish, subscribe or all", ErrBadRule)
	}
	n := 0
	for _, set := range []bool{r.Who.ClientID != "", r.Who.Username != "", r.Who.Address != "", r.Who.All} {
		if set {
			n++
		}
	}
	if n != 1 {
		return fmt.Errorf("%w: who must name exactly one of client_id, username, address or all", ErrBadRule)
	}
	if r.Who.Address != "" {
		p, err := parseAddrOrPrefix(r.Who.Address)
		if err != nil {
			return fmt.Errorf("%w: address %q: %w", ErrBadRule, r.Who.Address, err)
		}
		r.addr = p
	}
	if len(r.Topics) == 0 {
		return fmt.Errorf("%w: no topic", ErrBadRule)
	}
	r.dynamic = make([]bool, len(r.Topics))
	for i, t := range r.Topics {
		if strings.HasPrefix(t, topic.SharePrefix) {
			return fmt.Errorf("%w: topic %q: write the filter without $share/group/", ErrBadRule, t)
		}
		probe := strings.NewReplacer("%c", "c", "%u", "u").Replace(t)
		if err := topic.ValidateFilter(probe); err != nil {
			return fmt.Errorf("%w: topic %q: %w", ErrBadRule, t, err)
		}
		r.dynamic[i] = probe != t
	}
	return nil
}

// ParseRule parses the one-line form of a rule:
//
//	allow|deny publish|subscribe|all [client_id=ID|username=NAME|address=IP/CIDR] TOPIC...
//
// Fields are separated by white space; with no client_id=, username= or
// address= field the rule applies to every client. Examples:
//
//	allow publish devices/%c/state
//	allow subscribe devices/%c/command
//	deny all username=guest #
func ParseRule(line string) (Rule, error) {
	f := strings.Fields(line)
	if len(f) < 3 {
		return Rule{}, fmt.Errorf("%w: %q: want \"allow|deny publish|subscribe|all [who] TOPIC...\"", ErrBadRule, line)
	}
	var r Rule
	switch f[0] {
	case "allow":
		r.Permission = Allow
	case "deny":
		r.Permission = Deny
	default:
		return Rule{}, fmt.Errorf("%w: %q: permission %q is not allow or deny", ErrBadRule, line, f[0])
	}
	a, ok := ParseAction(f[1])
	if !ok {
		return Rule{}, fmt.Errorf("%w: %q: action %q is not publish, subscribe or all", ErrBadRule, line, f[1])
	}
	r.Action = a
	whoSet := false
	for _, tok := range f[2:] {
		k, v, isWho := cutWho(tok)
		if !isWho {
			r.Topics = append(r.Topics, tok)
			continue
		}
		if whoSet {
			return Rule{}, fmt.Errorf("%w: %q: more than one client_id=, username= or address=", ErrBadRule, line)
		}
		whoSet = true
		switch k {
		case "client_id":
			r.Who.ClientID = v
		case "username":
			r.Who.Username = v
		default:
			r.Who.Address = v
		}
		if v == "" {
			return Rule{}, fmt.Errorf("%w: %q: empty %s=", ErrBadRule, line, k)
		}
	}
	r.Who.All = !whoSet
	if err := r.compile(); err != nil {
		return Rule{}, fmt.Errorf("%q: %w", line, err)
	}
	return r, nil
}

func cutWho(tok string) (key, value string, ok bool) {
	for _, k := range []string{"client_id", "username", "address"} {
		if v, found := strings.CutPrefix(tok, k+"="); found {
			return k, v, true
		}
	}
	return "", "", false
}

// ParseAction parses "publish", "subscribe" or "all" ("pubsub" is also
// accepted for all).
func ParseAction(s string) (Action, bool) {
	switch s {
	case "publish":
		return ActionPublish, true
	case "subscribe":
		return ActionSubscribe, true
	case "all", "pubsub":
		return ActionAll, true
	}
	return 0, false
}

// ParseRules parses one rule per line in the one-line form; blank lines and
// lines starting with '#' are skipped. Errors name the line number.
func ParseRules(text string) ([]Rule, error) {
	var rules []Rule
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r, err := ParseRule(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// String returns the rule in the one-line form ParseRule reads.
func (r Rule) String() string {
	var b strings.Builder
	b.WriteString(r.Permission.String())
	b.WriteByte(' ')
	b.WriteString(r.Action.String())
	switch {
	case r.Who.ClientID != "":
		b.WriteString(" client_id=" + r.Who.ClientID)
	case r.Who.Username != "":
		b.WriteString(" username=" + r.Who.Username)
	case r.Who.Address != "":
		b.WriteString(" address=" + r.Who.Address)
	}
	for _, t := range r.Topics {
		b.WriteByte(' ')
		b.WriteString(t)
	}
	return b.String()
}

// matchesWho reports whether the rule applies to id.
func (r *Rule) matchesWho(id *Identity) bool {
	switch {
	case r.Who.All:
		return true
	case r.Who.ClientID != "":
		return id.ClientID == r.Who.ClientID
	case r.Who.Username != "":
		return !id.Anonymous && id.Username == r.Who.Username
	case r.addr.IsValid():
		return id.IP.IsValid() && r.addr.Contains(id.IP)
	}
	return false
}

// matchesTopic reports whether the rule's filter i matches the publish
// topic or the subscription filter.
func (r *Rule) matchesTopic(i int, id *Identity, action Action, name string) bool {
	pattern := r.Topics[i]
	if r.dynamic[i] {
		var ok bool
		if pattern, ok = expand(pattern, id); !ok {
			return false
		}
	}
	switch {
	case action == ActionPublish:
		return topic.Match(pattern, name)
	case r.Permission == Allow:
		return covers(pattern, name)
	default:
		return overlaps(pattern, name)
	}
}

// expand replaces %c and %u in pattern; false when a value is empty or
// holds a character that would change the filter's meaning.
func expand(pattern string, id *Identity) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(pattern); i++ {
		if pattern[i] != '%' || i+1 == len(pattern) || (pattern[i+1] != 'c' && pattern[i+1] != 'u') {
			b.WriteByte(pattern[i])
			continue
		}
		v := id.ClientID
		if pattern[i+1] == 'u' {
			if id.Anonymous {
				return "", false
			}
			v = id.Username
		}
		if v == "" || strings.ContainsAny(v, "/+#\x00") {
			return "", false
		}
		b.WriteString(v)
		i++
	}
	return b.String(), true
}

// evalRules returns the permission of the first rule matching, or
// NoOpinion.
func evalRules(rules []Rule, id *Identity, action Action, name string) Decision {
	for k := range rules {
		r := &rules[k]
		if r.Action&action == 0 || len(r.dynamic) != len(r.Topics) || !r.matchesWho(id) {
			continue
		}
		for i := range r.Topics {
			if r.matchesTopic(i, id, action, name) {
				return r.Permission
			}
		}
	}
	return NoOpinion
}

// ACL is an Authorizer over an ordered list of rules: the first rule that
// matches the identity, the action and the topic answers; no match is
// NoOpinion (the AuthzChain's default then applies). An ACL is immutable
// and safe for concurrent use.
type ACL struct {
	rules []Rule
}

// NewACL returns an ACL of rules (each from NewRule or ParseRule, or with
// its fields set and checked here).
func NewACL(rules []Rule) (*ACL, error) {
	out := make([]Rule, len(rules))
	for i, r := range rules {
		if err := r.compile(); err != nil {
			return nil, fmt.Errorf("rule %d (%s): %w", i+1, r, err)
		}
		out[i] = r
	}
	return &ACL{rules: out}, nil
}

// Rules returns a copy of the rules.
func (a *ACL) Rules() []Rule { return append([]Rule(nil), a.rules...) }

// Authorize implements Authorizer.
func (a *ACL) Authorize(_ context.Context, id *Identity, action Action, name string) Decision {
	if id == nil {
		return NoOpinion
	}
	return evalRules(a.rules, id, action, name)
}

// covers reports whether every topic name matching filter sub also matches
// filter rule.
func covers(rule, sub string) bool {
	first := true
	for {
		r, rrest, rmore := cutLevel(rule)
		s, srest, smore := cutLevel(sub)
		if first && (r == "+" || r == "#") && isDollarLevel(s) {
			return false
		}
		switch {
		case r == "#":
			return true
		case s == "#":
			return false
		case r != "+" && r != s:
			return false
		}
		switch {
		case rmore && smore:
			rule, sub, first = rrest, srest, false
		case !rmore && !smore:
			return true
		case rmore:
			return rrest == "#"
		default:
			return false
		}
	}
}

// overlaps reports whether some topic name matches both filters.
func overlaps(a, b string) bool {
	first := true
	for {
		x, xrest, xmore := cutLevel(a)
		y, yrest, ymore := cutLevel(b)
		if first && (isWild(x) && isDollarLevel(y) || isWild(y) && isDollarLevel(x)) {
			return false
		}
		switch {
		case x == "#" || y == "#":
			return true
		case x != "+" && y != "+" && x != y:
			return false
		}
		switch {
		case xmore && ymore:
			a, b, first = xrest, yrest, false
		case !xmore && !ymore:
			return true
		case xmore:
			return xrest == "#"
		default:
			return yrest == "#"
		}
	}
}

func isWild(level string) bool { return level == "+" || level == "#" }

func isDollarLevel(level string) bool {
	return level != "" && level[0] == '$'
}

func cutLevel(s string) (level, rest string, more bool) {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}

var _ Authorizer = (*ACL)(nil)
