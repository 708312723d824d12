package bridge

import "context"

// Pipeliner is implemented by sinks that can have several batches in
// flight at once (Kafka, whose client keeps per-partition order itself).
// The Runner then starts up to Options.MaxInflightBatches batches before
// the first is acknowledged, still acknowledges (commits) them strictly in
// order, and after any failure aborts the pipeline and sends again from
// the first batch not acknowledged.
type Pipeliner interface {
	// Pipeline opens a pipeline, or returns nil when the sink's current
	// mode does not pipeline (the Runner then calls Send, one batch at a
	// time). An error counts as a failed send.
	Pipeline() (Pipeline, error)
}

// Pipeline is a sequence of asynchronous sends sharing one connection
// state. The Runner calls Send from one goroutine; Abort may be called
// from any goroutine, also during a Send.
type Pipeline interface {
	// Send starts delivering recs after the records of every earlier Send
	// of this pipeline, and returns without waiting for the answer. done
	// is called exactly once, from any goroutine, with what Sink.Send
	// would have returned. Once a send failed, the pipeline is broken:
	// every later Send fails (and must not deliver anything), so that no
	// record overtakes one that failed.
	Send(ctx context.Context, recs []Record, done func(error))
	// Flush tells the pipeline that no more records come before an
	// answer (the Runner's window is full): it should send what it
	// holds now rather than wait to fill a larger request (Kafka's
	// linger). It does not wait.
	Flush()
	// Abort breaks the pipeline: sends not yet answered fail soon. It
	// does not wait for their done calls.
	Abort()
}
