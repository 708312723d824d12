package shadow

import "errors"

// retainVersionFor is how long a deleted shadow's version is kept: a
// shadow created again within it goes on counting (AWS: 48 hours).
const retainVersionFor = 48 * 3600

// message is one document to publish on the shadow's topic prefix +
// suffix ("update/delta", …).
type message struct {
	suffix  string
	payload []byte
}

// outcome is what a request produced: the accepted document, or the
// rejection; the shadow to store (nil: none, else with its expected stored
// version); and the messages to publish once it is stored.
type outcome struct {
	accepted []byte
	err      *Error
	token    string
	write    *Doc
	prev     uint64
	messages []message
}

// doUpdate applies an /update request to the stored shadow doc (nil: none).
func doUpdate(doc *Doc, payload []byte, lim Limits, now int64) outcome {
	r, e := parseUpdate(payload, lim)
	if r == nil {
		return outcome{err: e}
	}
	out := outcome{token: r.token}
	if e != nil {
		out.err = e
		return out
	}
	if doc == nil {
		doc = &Doc{}
	}
	out.prev = doc.Version
	cur := doc.Version
	if doc.Deleted && now-doc.Timestamp > retainVersionFor {
		cur = 0
	}
	if r.hasVersion && r.version != cur {
		out.err = errVersionConflict
		return out
	}
	prev := snapshotOf(doc)
	doc.apply(r, now)
	doc.Version = cur + 1
	if size, err := stateSize(doc); err != nil || size > lim.MaxStateBytes {
		out.err = errTooLarge
		return out
	}
	acc, err := encode(updateAccepted{State: requestSection(r, now, false), Metadata: requestSection(r, now, true),
		Version: doc.Version, Timestamp: now, ClientToken: r.token})
	if err != nil {
		out.err = errInternal
		return out
	}
	out.accepted, out.write = acc, doc
	out.messages = append(out.messages, message{"update/accepted", acc})
	if d := delta(doc.Desired, doc.Reported); wantsDelta(r, d) {
		b, err := encode(deltaDoc{Version: doc.Version, Timestamp: now, State: d,
			Metadata: pickMeta(d, doc.Desired, doc.MetaDesired), ClientToken: r.token})
		if err == nil {
			out.messages = append(out.messages, message{"update/delta", b})
		}
	}
	if b, err := encode(documentsDoc{Previous: prev, Current: snapshotOf(doc), Timestamp: now, ClientToken: r.token}); err == nil {
		out.messages = append(out.messages, message{"update/documents", b})
	}
	return out
}

// stateSize is the JSON size of the desired and reported state.
func stateSize(d *Doc) (int, error) {
	b, err := encode(section{Desired: nilIfEmpty(d.Desired), Reported: nilIfEmpty(d.Reported)})
	return len(b), err
}

// doGet answers a /get request.
func doGet(doc *Doc, thingName, name string, payload []byte, now int64) outcome {
	tok, err := ParseToken(payload)
	if err != nil {
		e, _ := AsError(err)
		return outcome{err: e}
	}
	out := outcome{token: tok}
	if !doc.Exists() {
		out.err = notFound(thingName, name)
		return out
	}
	b, encErr := getDocument(doc, now, tok)
	if encErr != nil {
		out.err = errInternal
		return out
	}
	out.accepted = b
	out.messages = []message{{"get/accepted", b}}
	return out
}

// doDelete deletes the shadow, keeping its version in a tombstone.
func doDelete(doc *Doc, thingName, name string, payload []byte, now int64) outcome {
	tok, err := ParseToken(payload)
	if err != nil && !errors.Is(err, errInvalidJSON) {
		// The content of a /delete is ignored, but a bad clientToken is
		// still refused.
		e, _ := AsError(err)
		return outcome{err: e}
	}
	out := outcome{token: tok}
	if !doc.Exists() {
		out.err = notFound(thingName, name)
		return out
	}
	b, encErr := encode(deleteAccepted{Version: doc.Version, Timestamp: now, ClientToken: tok})
	if encErr != nil {
		out.err = errInternal
		return out
	}
	out.prev = doc.Version
	out.write = &Doc{Version: doc.Version, Deleted: true, Timestamp: now}
	out.accepted = b
	out.messages = []message{{"delete/accepted", b}}
	return out
}
