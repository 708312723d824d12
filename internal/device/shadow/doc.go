// Package shadow is the Device Shadow service, compatible with AWS IoT's:
// classic and named shadows on the reserved topics
// $aws/things/{thing}/shadow[/name/{name}]/{get,update,delete}, answered on
// …/accepted and …/rejected, with …/update/delta and …/update/documents,
// exactly the request and response documents AWS documents (state.desired
// and state.reported, null deletes a field, metadata timestamps per leaf,
// version with 409 on a mismatch, clientToken echoed, AWS's error codes and
// messages, the 8 KB state and 6-level depth limits).
//
// # Shape
//
// document.go parses requests; state.go is the pure state algebra (merge,
// metadata, delta); ops.go turns a stored shadow and a request into an
// outcome (the answer, the shadow to store, the messages to publish);
// response.go holds the response documents; store.go the Store interface
// (the seam for the cluster's replicated store) and its implementation on
// the hub's storage.Store; service.go the Service.
//
// # Concurrency
//
// The Service runs Options.Workers goroutines; each thing belongs to one
// worker (by hash), so requests for one shadow run one at a time, in the
// order they arrived, and never conflict in the store. HandleMessage
// (called on a publisher's read goroutine) only queues, and answers 429
// when the worker's bounded queue is full. API calls wait for room and
// for their answer, bounded by their context.
//
// # Lifecycle
//
// New starts the workers; Close stops taking requests and drains the
// queues. Responses are published through thing.Publisher at QoS 1.
package shadow
