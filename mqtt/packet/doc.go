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
// caller with a reused buffer encodes without allocating. They validate what
// they write (strings, topics, properties allowed for the packet type,
// reason codes allowed for it, sizes) and return an error, never a packet the
// peer would refuse. Fields a version does not have are left out: encoding
// for 3.1.1 drops v5 properties and reason codes, maps a v5 CONNACK reason
// code to a 3.1.1 return code (ConnackReturnCode) and a SUBACK error code to
// 0x80 (SubackReturnCode). Size gives a packet's encoded size without
// encoding it, to check it against a client's Maximum Packet Size.
//
// # Reading a connection
//
// The version of a connection is only known once its CONNECT is decoded.
// A server reads the first packet with ReadConnect (or ReadPacket or
// DecodeBody with version 0, which accept only CONNECT) and then uses
// Connect.Version for every later packet. Connect.Decode always takes the
// version from the packet. An unsupported protocol name or level is a *Error
// with UnsupportedProtocolVersion; the server then answers with a 3.1.1-style
// CONNACK (return code 0x01), which clients of every version understand.
//
// # What is left to the caller
//
// Rules that need connection state are not checked here: a client-sent
// PUBLISH carrying a subscription identifier, a topic alias above the
// negotiated maximum, a packet larger than the negotiated maximum packet
// size, an empty 3.1.1 client identifier with clean session 0, or a second
// CONNECT.
package packet
