// Package logging holds iothub's logging helpers around log/slog. Its one job
// today is Limiter, the rate limit that every noisy warning goes through
// (drops, refusals, failing rule actions and bridges), so that trouble is
// always visible in the log without one misbehaving client writing a line
// per packet.
//
// # Concurrency
//
// A Limiter is safe for concurrent use without locks (two atomics); its
// zero value is ready and lets one line a second through.
package logging
