// Package template is the one placeholder syntax of iothub's templates:
// text with ${…} placeholders, as in "alarms/${clientid}",
// "${payload.battery}" or "vehicles/${key}/command". "${" opens a
// placeholder that the next "}" closes, and "$$" is a literal "$"; nothing
// else is special.
//
// Split cuts a template into literal text and placeholder sources, with the
// column of each, and is all this package does: what a placeholder may name
// and how it is rendered belongs to its user. The rule engine
// (internal/rule) reads a placeholder as a path into a rule's output
// (payload.x[2]); bridge sources (package bridge) read it as one of a fixed
// set of field names of what they consume (key, headers.trace_id). Both
// report mistakes as *Error with the column, so an operator sees the same
// kind of message wherever a template is refused.
//
// (The load generator's topic and payload patterns, `iothub bench … -t
// 'dev/%i'`, are not templates: they follow emqtt-bench's %i/%c flags,
// which benchmark users know.)
package template
