package jobs

import (
	"encoding/json"
	"errors"
	"sort"
	"time"
)

// Job execution states (AWS IoT's).
const (
	Queued     = "QUEUED"
	InProgress = "IN_PROGRESS"
	Succeeded  = "SUCCEEDED"
	Failed     = "FAILED"
	TimedOut   = "TIMED_OUT"
	Rejected   = "REJECTED"
	Removed    = "REMOVED"
	Canceled   = "CANCELED"
)

// Job states.
const (
	JobInProgress = "IN_PROGRESS"
	JobCompleted  = "COMPLETED"
	JobCanceled   = "CANCELED"
)

// The service's errors.
var (
	// ErrNotFound: no job has the id.
	ErrNotFound = errors.New("jobs: job not found")
	// ErrExists: a job with the id exists.
	ErrExists = errors.New("jobs: job exists")
	// ErrInvalid: the job definition is refused; the message says why.
	ErrInvalid = errors.New("jobs: invalid job")
	// ErrTerminal: the job is already completed or canceled.
	ErrTerminal = errors.New("jobs: job is completed or canceled")
)

// terminal reports whether an execution status is final.
func terminal(status string) bool {
	switch status {
	case Queued, InProgress:
		return false
	}
	return true
}

// Rollout bounds how fast executions are created.
type Rollout struct {
	// MaximumPerMinute executions are created per minute (0: all at once).
	MaximumPerMinute int `json:"maximum_per_minute,omitempty"`
}

// AbortCriterion cancels the job when, among the things that finished
// their execution (at least MinExecuted of them), ThresholdPercentage or
// more ended with FailureType (FAILED, REJECTED, TIMED_OUT or ALL of them).
type AbortCriterion struct {
	FailureType         string  `json:"failure_type"`
	ThresholdPercentage float64 `json:"threshold_percentage"`
	MinExecuted         int     `json:"min_executed"`
}

// Job is a job: a document for a set of things, rolled out at a rate.
type Job struct {
	ID          string          `json:"job_id"`
	Description string          `json:"description,omitempty"`
	Document    json.RawMessage `json:"document"`
	// Targets are the things, groups resolved at creation (a snapshot).
	Targets []string         `json:"targets"`
	Groups  []string         `json:"groups,omitempty"`
	Status  string           `json:"status"`
	Rollout Rollout          `json:"rollout"`
	Abort   []AbortCriterion `json:"abort,omitempty"`
	// InProgressTimeout bounds an execution's time IN_PROGRESS (0: none).
	InProgressTimeout Duration `json:"in_progress_timeout,omitempty"`
	// RolledOut counts the targets that got their execution.
	RolledOut   int        `json:"rolled_out"`
	Comment     string     `json:"comment,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	CompletedAt *time.Time `json:"completed_at,omitempty"`
}

// Duration is a time.Duration written as text ("30m") in JSON.
type Duration time.Duration

// MarshalJSON writes "1h30m0s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Execution is one thing's execution of a job (AWS's JobExecution).
type Execution struct {
	JobID           string            `json:"jobId"`
	ThingName       string            `json:"thingName"`
	Status          string            `json:"status"`
	StatusDetails   map[string]string `json:"statusDetails,omitempty"`
	QueuedAt        int64             `json:"queuedAt"`
	StartedAt       int64             `json:"startedAt,omitempty"`
	LastUpdatedAt   int64             `json:"lastUpdatedAt"`
	VersionNumber   int64             `json:"versionNumber"`
	ExecutionNumber int64             `json:"executionNumber"`
	// Deadline is when an IN_PROGRESS execution times out (the job's
	// in-progress timeout and the device's step timeout, whichever comes
	// first; unix seconds, 0: never).
	Deadline int64 `json:"deadline,omitempty"`
	// stepDeadline is kept apart to recompute Deadline.
	InProgressDeadline int64 `json:"in_progress_deadline,omitempty"`
}

// JobInfo is a job with the count of its executions by status.
type JobInfo struct {
	Job
	Executions map[string]int `json:"executions"`
}

// sortPending orders pending executions as AWS does: IN_PROGRESS first,
// then QUEUED, each by the time queued (then job id).
func sortPending(es []*Execution) {
	sort.Slice(es, func(i, j int) bool {
		a, b := es[i], es[j]
		if (a.Status == InProgress) != (b.Status == InProgress) {
			return a.Status == InProgress
		}
		if a.QueuedAt != b.QueuedAt {
			return a.QueuedAt < b.QueuedAt
		}
		return a.JobID < b.JobID
	})
}
