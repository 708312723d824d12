package shadow

// The response documents of AWS's Device Shadow service, built as structs
// so that their fields come out in a fixed order.

// section is a {"desired", "reported"} pair of state or metadata.
type section struct {
	Desired  any `json:"desired,omitempty"`
	Reported any `json:"reported,omitempty"`
}

// fullState is a shadow's state in a /get answer, with its delta.
type fullState struct {
	Desired  map[string]any `json:"desired,omitempty"`
	Reported map[string]any `json:"reported,omitempty"`
	Delta    map[string]any `json:"delta,omitempty"`
}

// getDoc is the /get/accepted document (and the HTTP API's GET answer).
type getDoc struct {
	State       fullState `json:"state"`
	Metadata    section   `json:"metadata"`
	Version     uint64    `json:"version"`
	Timestamp   int64     `json:"timestamp"`
	ClientToken string    `json:"clientToken,omitempty"`
}

// getDocument returns d as /get/accepted shows it.
func getDocument(d *Doc, now int64, token string) ([]byte, error) {
	g := getDoc{
		State:    fullState{Desired: d.Desired, Reported: d.Reported, Delta: delta(d.Desired, d.Reported)},
		Metadata: section{Desired: nilIfEmpty(d.MetaDesired), Reported: nilIfEmpty(d.MetaReported)},
		Version:  d.Version, Timestamp: now, ClientToken: token,
	}
	return encode(g)
}

func nilIfEmpty(m map[string]any) any {
	if len(m) == 0 {
		return nil
	}
	return m
}

// updateAccepted is the /update/accepted document: the request's state as
// sent (nulls included) and the metadata of what it set.
type updateAccepted struct {
	State       any    `json:"state"`
	Metadata    any    `json:"metadata"`
	Version     uint64 `json:"version"`
	Timestamp   int64  `json:"timestamp"`
	ClientToken string `json:"clientToken,omitempty"`
}

// requestSection returns the request's state (or its metadata, with
// meta) as the accepted document shows it.
func requestSection(r *updateRequest, now int64, meta bool) any {
	if r.stateNull {
		return nil
	}
	s := map[string]any{}
	put := func(key string, has bool, v map[string]any) {
		switch {
		case !has:
		case !meta && v == nil:
			s[key] = nil
		case !meta:
			s[key] = v
		case v == nil:
			s[key] = map[string]any{"timestamp": now}
		default:
			s[key] = requestMeta(v, now)
		}
	}
	put("desired", r.hasDesired, r.desired)
	put("reported", r.hasReported, r.reported)
	return s
}

// requestMeta is metaOf for a request value, where a null field (a
// deletion) gets a timestamp too.
func requestMeta(v map[string]any, now int64) map[string]any {
	out := make(map[string]any, len(v))
	for k, c := range v {
		switch x := c.(type) {
		case nil:
			out[k] = map[string]any{"timestamp": now}
		case map[string]any:
			out[k] = requestMeta(x, now)
		default:
			out[k] = metaOf(c, now)
		}
	}
	return out
}

// deltaDoc is the /update/delta document.
type deltaDoc struct {
	Version     uint64         `json:"version"`
	Timestamp   int64          `json:"timestamp"`
	State       map[string]any `json:"state"`
	Metadata    map[string]any `json:"metadata"`
	ClientToken string         `json:"clientToken,omitempty"`
}

// snapshot is a shadow's state, metadata and version in /update/documents.
type snapshot struct {
	State    section `json:"state"`
	Metadata section `json:"metadata"`
	Version  uint64  `json:"version"`
}

// snapshotOf returns d's snapshot; nil when d does not exist.
func snapshotOf(d *Doc) *snapshot {
	if !d.Exists() {
		return nil
	}
	return &snapshot{
		State:    section{Desired: nilIfEmpty(d.Desired), Reported: nilIfEmpty(d.Reported)},
		Metadata: section{Desired: nilIfEmpty(d.MetaDesired), Reported: nilIfEmpty(d.MetaReported)},
		Version:  d.Version,
	}
}

// documentsDoc is the /update/documents document.
type documentsDoc struct {
	Previous    *snapshot `json:"previous,omitempty"`
	Current     *snapshot `json:"current"`
	Timestamp   int64     `json:"timestamp"`
	ClientToken string    `json:"clientToken,omitempty"`
}

// deleteAccepted is the /delete/accepted document.
type deleteAccepted struct {
	Version     uint64 `json:"version"`
	Timestamp   int64  `json:"timestamp"`
	ClientToken string `json:"clientToken,omitempty"`
}

// errorDoc is the /rejected document.
type errorDoc struct {
	Code        int    `json:"code"`
	Message     string `json:"message"`
	Timestamp   int64  `json:"timestamp"`
	ClientToken string `json:"clientToken,omitempty"`
}
