package packet

import "fmt"

// malformedf returns a *Error with MalformedPacket wrapping ErrMalformed.
// The message names the packet and the field that was wrong.
func malformedf(format string, args ...any) *Error {
	return &Error{Code: MalformedPacket, Err: fmt.Errorf(format+": %w", append(args, ErrMalformed)...)}
}

// protocolf returns a *Error with ProtocolError wrapping ErrProtocol.
func protocolf(format string, args ...any) *Error {
	return &Error{Code: ProtocolError, Err: fmt.Errorf(format+": %w", append(args, ErrProtocol)...)}
}

// tooLargef returns a *Error with PacketTooLarge wrapping ErrTooLarge.
func tooLargef(format string, args ...any) *Error {
	return &Error{Code: PacketTooLarge, Err: fmt.Errorf(format+": %w", append(args, ErrTooLarge)...)}
}

// wrapMalformed returns a *Error with MalformedPacket wrapping both err (for
// example a topic package sentinel) and ErrMalformed.
func wrapMalformed(what string, err error) *Error {
	return &Error{Code: MalformedPacket, Err: fmt.Errorf("%s: %w: %w", what, err, ErrMalformed)}
}

// encodeErrorf returns the error of an encoder refusing a packet: a *Error
// with ProtocolError wrapping ErrProtocol (the packet would break a rule).
func encodeErrorf(format string, args ...any) *Error {
	return protocolf("encode "+format, args...)
}
