// Package jobs is the Jobs service, compatible with AWS IoT Jobs: jobs
// created through the HTTP API for a list of things or groups (a document,
// a rollout rate, an in-progress timeout, abort criteria), rolled out as
// job executions that devices run through the reserved topics
// $aws/things/{thing}/jobs/{get,start-next,{jobId}/get,{jobId}/update}
// (answered on …/accepted and …/rejected) and follow on
// $aws/things/{thing}/jobs/notify and notify-next, with AWS's execution
// states (QUEUED, IN_PROGRESS, SUCCEEDED, FAILED, TIMED_OUT, REJECTED,
// REMOVED, CANCELED) and error codes. Job and execution events are
// published on $aws/events/job/… and $aws/events/jobExecution/… for rules.
//
// # Shape
//
// model.go holds the job and execution records, wire.go the device API's
// documents, device.go the device operations, manage.go the management
// operations (create, cancel, list), rollout, timeouts and abort
// criteria, service.go the Service (state, persistence, notifications).
//
// # Concurrency and storage
//
// All jobs and executions are held in memory under one mutex and written
// through to the storage.Store ("job/j/{id}", "job/e/{thing}/{id}",
// synced) before any answer or notification is published; New loads them.
// Device requests are queued (bounded: a full queue answers
// RequestThrottled) and served by the service's goroutine, which also
// runs Tick every Options.SweepInterval. Messages are published after the
// mutex is released.
package jobs
