// Package packet is iothub's MQTT 3.1.1 and 5.0 codec.
//
// It encodes and decodes every control packet of both versions (AUTH
// included), every v5 property and reason code, and validates strictly:
// reserved flag bits, remaining-length limits, UTF-8 well-formedness (no
// U+0000), topic-name and topic-filter rules, duplicate or forbidden
// properties. A packet that breaks a rule is refused with a *Error carrying the
// reason code a v5 server would send (MalformedPacket or ProtocolError for most
// cases).
//
// The package imports nothing else of iothub. It is safe for concurrent use:
// nothing here holds state between calls.
//
// # Zero-copy decoding
//
// Decode methods take the packet body as a []byte and the decoded strings and
// byte slices ALIAS that body (strings are made with unsafe.String). The caller
// gives each packet its own body buffer and must not modify or reuse it while
// the decoded packet is alive. This is what lets a PUBLISH be decoded with zero
// allocations: the one allocation is the body buffer, which the message then
// owns.
//
// # Encoding
//
// Encode methods append to a caller-supplied slice (AppendTo style), so a
// caller with a reused buffer encodes without allocating.
package packet
