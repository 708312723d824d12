// Package msg holds the values that cross from the broker to the rule engine
// and the bridges: Message (one application message as it entered the hub)
// and Event (something that happened to a client or a message).
//
// It is a leaf package: it imports nothing of iothub, so every other package
// may depend on it. Values are immutable once handed over: the broker shares
// one *Message among all subscribers, rules and bridges, and nobody may modify
// it after Server.Publish or an event has been emitted.
package msg
