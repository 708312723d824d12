package jobs

import "encoding/json"

// The documents of AWS IoT's jobs device MQTT API.

// summary is a JobExecutionSummary.
type summary struct {
	JobID           string `json:"jobId"`
	QueuedAt        int64  `json:"queuedAt"`
	StartedAt       int64  `json:"startedAt,omitempty"`
	LastUpdatedAt   int64  `json:"lastUpdatedAt"`
	VersionNumber   int64  `json:"versionNumber"`
	ExecutionNumber int64  `json:"executionNumber"`
}

func summaryOf(e *Execution) summary {
	return summary{JobID: e.JobID, QueuedAt: e.QueuedAt, StartedAt: e.StartedAt, LastUpdatedAt: e.LastUpdatedAt,
		VersionNumber: e.VersionNumber, ExecutionNumber: e.ExecutionNumber}
}

// execution is a JobExecution, with its job document when asked.
type execution struct {
	JobID           string            `json:"jobId"`
	ThingName       string            `json:"thingName"`
	JobDocument     json.RawMessage   `json:"jobDocument,omitempty"`
	Status          string            `json:"status"`
	StatusDetails   map[string]string `json:"statusDetails,omitempty"`
	QueuedAt        int64             `json:"queuedAt"`
	StartedAt       int64             `json:"startedAt,omitempty"`
	LastUpdatedAt   int64             `json:"lastUpdatedAt"`
	VersionNumber   int64             `json:"versionNumber"`
	ExecutionNumber int64             `json:"executionNumber"`
}

// state is a JobExecutionState.
type state struct {
	Status        string            `json:"status"`
	StatusDetails map[string]string `json:"statusDetails,omitempty"`
	VersionNumber int64             `json:"versionNumber"`
}

func stateOf(e *Execution) *state {
	return &state{Status: e.Status, StatusDetails: e.StatusDetails, VersionNumber: e.VersionNumber}
}

// pendingDoc answers jobs/get.
type pendingDoc struct {
	InProgressJobs []summary `json:"inProgressJobs"`
	QueuedJobs     []summary `json:"queuedJobs"`
	Timestamp      int64     `json:"timestamp"`
	ClientToken    string    `json:"clientToken,omitempty"`
}

// executionDoc answers start-next and {jobId}/get; notify-next too
// (without a client token).
type executionDoc struct {
	Execution   *execution `json:"execution,omitempty"`
	Timestamp   int64      `json:"timestamp"`
	ClientToken string     `json:"clientToken,omitempty"`
}

// updateDoc answers {jobId}/update.
type updateDoc struct {
	ExecutionState *state          `json:"executionState,omitempty"`
	JobDocument    json.RawMessage `json:"jobDocument,omitempty"`
	Timestamp      int64           `json:"timestamp"`
	ClientToken    string          `json:"clientToken,omitempty"`
}

// notifyDoc is published on jobs/notify.
type notifyDoc struct {
	Timestamp int64                `json:"timestamp"`
	Jobs      map[string][]summary `json:"jobs"`
}

// errorDoc is a …/rejected document.
type errorDoc struct {
	Code           string `json:"code"`
	Message        string `json:"message"`
	ClientToken    string `json:"clientToken,omitempty"`
	Timestamp      int64  `json:"timestamp"`
	ExecutionState *state `json:"executionState,omitempty"`
}

// The error codes of the jobs device API.
const (
	codeInvalidTopic      = "InvalidTopic"
	codeInvalidJSON       = "InvalidJson"
	codeInvalidRequest    = "InvalidRequest"
	codeInvalidTransition = "InvalidStateTransition"
	codeNotFound          = "ResourceNotFound"
	codeVersionMismatch   = "VersionMismatch"
	codeInternal          = "InternalError"
	codeThrottled         = "RequestThrottled"
)

// rejection is a refused device request.
type rejection struct {
	code, message string
	state         *state
}

// request is what the device requests may carry.
type request struct {
	ClientToken          string            `json:"clientToken"`
	Status               string            `json:"status"`
	StatusDetails        map[string]string `json:"statusDetails"`
	ExpectedVersion      *int64            `json:"expectedVersion"`
	ExecutionNumber      *int64            `json:"executionNumber"`
	IncludeJobDocument   *bool             `json:"includeJobDocument"`
	IncludeExecutionSt   bool              `json:"includeJobExecutionState"`
	StepTimeoutInMinutes *int64            `json:"stepTimeoutInMinutes"`
}
