package msg

import "strings"

// OriginKind says which part of the hub a message came from.
type OriginKind uint8

// The kinds of origin.
const (
	// OriginUnknown is the zero value: a message built without saying.
	OriginUnknown OriginKind = iota
	// OriginClient: a PUBLISH of a network client.
	OriginClient
	// OriginAPI: the HTTP API.
	OriginAPI
	// OriginRule: a rule's republish action (Origin.Name is the chain).
	OriginRule
	// OriginBridge: a bridge's source (Origin.Name is the bridge).
	OriginBridge
	// OriginWill: a client's will message.
	OriginWill
	// OriginSys: the hub's own $SYS messages.
	OriginSys
	// OriginDevice: the device services (Origin.Name is the service:
	// "shadow", "jobs" or "registry").
	OriginDevice
	// OriginCluster: another node of the cluster forwarded the message
	// (Origin.Name is the node it entered). It is delivered to local
	// sessions only: not evaluated by rules (they ran on the entry node),
	// not forwarded again, not stored as retained.
	OriginCluster
	// OriginUpstream: a message that came down from the central hub
	// over an edge's upstream link (Origin.Name is the centre's URL
	// host). It is never forwarded up again.
	OriginUpstream
)

var originNames = [...]string{
	OriginUnknown:  "",
	OriginClient:   "client",
	OriginAPI:      "api",
	OriginRule:     "rule",
	OriginBridge:   "bridge",
	OriginWill:     "will",
	OriginSys:      "sys",
	OriginDevice:   "device",
	OriginCluster:  "cluster",
	OriginUpstream: "upstream",
}

// String returns the kind's name ("client", "rule", …; "" for unknown).
func (k OriginKind) String() string {
	if int(k) < len(originNames) {
		return originNames[k]
	}
	return ""
}

// Origin says where a message came from, for loop prevention and rules.
type Origin struct {
	// Kind is the part of the hub that published the message.
	Kind OriginKind
	// Name is the bridge's name for OriginBridge, and for OriginRule the
	// ids of the rules that republished the message, oldest first,
	// comma-separated ("a,b": rule a republished a message that rule b
	// then republished). Empty for the other kinds.
	Name string
}

// String returns the origin as text: "client", "rule:a,b", "bridge:north".
// ParseOrigin reads it back.
func (o Origin) String() string {
	if o.Name == "" {
		return o.Kind.String()
	}
	return o.Kind.String() + ":" + o.Name
}

// ParseOrigin reads what Origin.String wrote; unknown text gives
// OriginUnknown with the text as Name.
func ParseOrigin(s string) Origin {
	kind, name, _ := strings.Cut(s, ":")
	for k, n := range originNames {
		if n == kind && n != "" {
			return Origin{Kind: OriginKind(k), Name: name}
		}
	}
	if s == "" {
		return Origin{}
	}
	return Origin{Name: s}
}

// RuleChain returns the rules of an OriginRule origin, oldest first (nil
// for other kinds).
func (o Origin) RuleChain() []string {
	if o.Kind != OriginRule || o.Name == "" {
		return nil
	}
	return strings.Split(o.Name, ",")
}
