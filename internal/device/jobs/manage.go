package jobs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/iothub-dev/iothub/internal/device/thing"
)

// CreateRequest defines a job.
type CreateRequest struct {
	ID          string           `json:"job_id"`
	Description string           `json:"description,omitempty"`
	Document    json.RawMessage  `json:"document"`
	Targets     []string         `json:"targets,omitempty"`
	Groups      []string         `json:"groups,omitempty"`
	Rollout     Rollout          `json:"rollout,omitempty"`
	Abort       []AbortCriterion `json:"abort,omitempty"`
	// InProgressTimeout bounds the time an execution stays IN_PROGRESS
	// ("30m"; AWS: 1 minute to 7 days; 0: none).
	InProgressTimeout Duration `json:"in_progress_timeout,omitempty"`
}

// validate checks the request and returns the targets, groups resolved.
func (s *Service) validate(r *CreateRequest) ([]string, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	if err := thing.ValidName(r.ID, 64); err != nil || r.ID == "$next" {
		return nil, bad("job_id %q: 1 to 64 bytes, one topic level, not $next", r.ID)
	}
	doc := bytes.TrimSpace(r.Document)
	if len(doc) == 0 || doc[0] != '{' || !json.Valid(doc) {
		return nil, bad("document: a JSON object is required")
	}
	if len(doc) > s.o.MaxDocumentBytes {
		return nil, bad("document: %d bytes, over devices.jobs.max_document_bytes (%d)", len(doc), s.o.MaxDocumentBytes)
	}
	if r.Rollout.MaximumPerMinute < 0 || r.Rollout.MaximumPerMinute > 1000 {
		return nil, bad("rollout.maximum_per_minute: 1 to 1000 (0: all at once)")
	}
	if t := time.Duration(r.InProgressTimeout); t != 0 && (t < time.Second || t > 7*24*time.Hour) {
		return nil, bad("in_progress_timeout: 1s to 168h")
	}
	for i, c := range r.Abort {
		if !slices.Contains([]string{Failed, Rejected, TimedOut, "ALL"}, c.FailureType) ||
			c.ThresholdPercentage <= 0 || c.ThresholdPercentage > 100 || c.MinExecuted < 1 {
			return nil, bad("abort.%d: failure_type FAILED, REJECTED, TIMED_OUT or ALL; threshold_percentage in (0, 100]; min_executed at least 1", i)
		}
	}
	return s.targets(r)
}

// targets returns the job's things: the listed ones and the groups'
// members, without duplicates, in order.
func (s *Service) targets(r *CreateRequest) ([]string, error) {
	all := slices.Clone(r.Targets)
	for _, g := range r.Groups {
		if s.o.Groups == nil {
			return nil, fmt.Errorf("%w: groups: there is no device registry", ErrInvalid)
		}
		m, err := s.o.Groups.Members(g)
		if err != nil {
			return nil, err
		}
		all = append(all, m...)
	}
	for _, t := range all {
		if err := thing.ValidName(t, thing.MaxNameLen); err != nil {
			return nil, fmt.Errorf("%w: targets: %w", ErrInvalid, err)
		}
	}
	slices.Sort(all)
	all = slices.Compact(all)
	if len(all) == 0 {
		return nil, fmt.Errorf("%w: no target: give targets, or groups with members", ErrInvalid)
	}
	return all, nil
}

// Create creates a job and rolls out its first executions.
func (s *Service) Create(r CreateRequest) (JobInfo, error) {
	targets, err := s.validate(&r)
	if err != nil {
		return JobInfo{}, err
	}
	now := s.o.Now().UTC()
	j := &Job{ID: r.ID, Description: r.Description, Document: json.RawMessage(bytes.TrimSpace(r.Document)), Targets: targets,
		Groups: r.Groups, Status: JobInProgress, Rollout: r.Rollout, Abort: r.Abort, InProgressTimeout: r.InProgressTimeout,
		CreatedAt: now, UpdatedAt: now}
	s.mu.Lock()
	if _, ok := s.jobs[r.ID]; ok {
		s.mu.Unlock()
		return JobInfo{}, fmt.Errorf("%w: %q", ErrExists, r.ID)
	}
	s.jobs[j.ID] = j
	msgs := s.rollout(j, now)
	info := s.info(j)
	s.mu.Unlock()
	s.publish(msgs)
	return info, nil
}

// rollout creates the executions the rollout rate allows by now, and
// persists the job; the caller holds s.mu.
func (s *Service) rollout(j *Job, now time.Time) []out {
	allowed := len(j.Targets)
	if r := j.Rollout.MaximumPerMinute; r > 0 {
		allowed = min(allowed, r*(1+int(now.Sub(j.CreatedAt)/time.Minute)))
	}
	var msgs []out
	var execs []*Execution
	for ; j.RolledOut < allowed; j.RolledOut++ {
		name := j.Targets[j.RolledOut]
		before := s.viewOf(name)
		e := &Execution{JobID: j.ID, ThingName: name, Status: Queued, QueuedAt: now.Unix(), LastUpdatedAt: now.Unix(),
			VersionNumber: 1, ExecutionNumber: 1}
		s.thingExecs(name)[j.ID] = e
		execs = append(execs, e)
		msgs = append(msgs, s.notifications(name, before)...)
	}
	s.persist([]*Job{j}, execs)
	return msgs
}

// Tick rolls out what the rates allow, times out executions past their
// deadline, and completes jobs; the service calls it every SweepInterval.
func (s *Service) Tick() {
	now := s.o.Now()
	s.mu.Lock()
	var msgs []out
	for _, id := range sortedIDs(s.jobs) {
		if j := s.jobs[id]; j.Status == JobInProgress && j.RolledOut < len(j.Targets) {
			msgs = append(msgs, s.rollout(j, now)...)
		}
	}
	for _, name := range sortedIDs(s.execs) {
		for _, id := range sortedIDs(s.execs[name]) {
			e := s.execs[name][id]
			if e.Status == InProgress && e.Deadline > 0 && e.Deadline <= now.Unix() {
				before := s.viewOf(name)
				s.transition(e, TimedOut, nil)
				msgs = append(msgs, s.afterChange(e, before)...)
			}
		}
	}
	s.mu.Unlock()
	s.publish(msgs)
}

// counts returns the number of j's executions by status.
func (s *Service) counts(j *Job) map[string]int {
	c := map[string]int{}
	for _, name := range j.Targets[:j.RolledOut] {
		if e := s.execs[name][j.ID]; e != nil {
			c[e.Status]++
		}
	}
	return c
}

// settle completes j when every target finished, or cancels it when an
// abort criterion is met; the caller holds s.mu.
func (s *Service) settle(j *Job) ([]out, bool) {
	c := s.counts(j)
	finished := 0
	for st, n := range c {
		if terminal(st) {
			finished += n
		}
	}
	for _, a := range j.Abort {
		failed := c[a.FailureType]
		if a.FailureType == "ALL" {
			failed = c[Failed] + c[Rejected] + c[TimedOut]
		}
		if finished >= a.MinExecuted && float64(failed)*100 >= a.ThresholdPercentage*float64(finished) {
			return s.cancel(j, false, fmt.Sprintf("abort criteria met: %d of %d finished executions %s", failed, finished, a.FailureType)), true
		}
	}
	if j.RolledOut == len(j.Targets) && finished == j.RolledOut {
		s.finish(j, JobCompleted)
		return []out{s.jobEvent(j, "completed")}, true
	}
	return nil, false
}

// finish marks j done with status.
func (s *Service) finish(j *Job, status string) {
	now := s.o.Now().UTC()
	j.Status, j.UpdatedAt, j.CompletedAt = status, now, &now
}

// cancel cancels j: its queued executions (and with force its IN_PROGRESS
// ones) become CANCELED and the targets not rolled out are dropped; the
// caller holds s.mu and persists j.
func (s *Service) cancel(j *Job, force bool, comment string) []out {
	s.finish(j, JobCanceled)
	j.Comment = comment
	var msgs []out
	var execs []*Execution
	for _, name := range j.Targets[:j.RolledOut] {
		e := s.execs[name][j.ID]
		if e == nil || terminal(e.Status) || e.Status == InProgress && !force {
			continue
		}
		before := s.viewOf(name)
		s.transition(e, Canceled, nil)
		execs = append(execs, e)
		msgs = append(msgs, s.notifications(name, before)...)
		msgs = append(msgs, s.executionEvent(e))
	}
	s.persist(nil, execs)
	return append(msgs, s.jobEvent(j, "canceled"))
}

// RemoveThing marks the pending (QUEUED or IN_PROGRESS) executions of a
// thing REMOVED, as AWS does when a thing leaves a job's targets: called
// when the device is deleted from the registry. Its jobs may complete.
// Targets not rolled out yet keep their place. It returns how many
// executions it removed.
func (s *Service) RemoveThing(name string) int {
	s.mu.Lock()
	pending := s.pending(name)
	if len(pending) == 0 {
		s.mu.Unlock()
		return 0
	}
	before := s.viewOf(name)
	var msgs []out
	var jobs []*Job
	for _, e := range pending {
		s.transition(e, Removed, nil)
		msgs, jobs = s.finished(e, msgs, jobs)
	}
	msgs = append(s.notifications(name, before), msgs...)
	s.persist(jobs, pending)
	s.mu.Unlock()
	s.publish(msgs)
	return len(pending)
}

// Cancel cancels a job in progress.
func (s *Service) Cancel(id string, force bool, comment string) (JobInfo, error) {
	s.mu.Lock()
	j, ok := s.jobs[id]
	if !ok {
		s.mu.Unlock()
		return JobInfo{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	if j.Status != JobInProgress {
		s.mu.Unlock()
		return JobInfo{}, fmt.Errorf("%w: %q is %s", ErrTerminal, id, j.Status)
	}
	msgs := s.cancel(j, force, comment)
	s.persist([]*Job{j}, nil)
	info := s.info(j)
	s.mu.Unlock()
	s.publish(msgs)
	return info, nil
}

func (s *Service) info(j *Job) JobInfo {
	c := *j
	return JobInfo{Job: c, Executions: s.counts(j)}
}

// Get returns the job with id and its execution counts.
func (s *Service) Get(id string) (JobInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[id]
	if !ok {
		return JobInfo{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	return s.info(j), nil
}

// List returns up to limit jobs after the id after, with status when set.
func (s *Service) List(status, after string, limit int) ([]JobInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []JobInfo
	for _, id := range sortedIDs(s.jobs) {
		j := s.jobs[id]
		if id <= after || status != "" && j.Status != status {
			continue
		}
		if len(out) == limit {
			return out, true
		}
		out = append(out, s.info(j))
	}
	return out, false
}

// Executions returns up to limit executions of job id, for things after
// the name after.
func (s *Service) Executions(id, after string, limit int) ([]Execution, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[id]
	if !ok {
		return nil, false, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	var out []Execution
	for _, name := range j.Targets[:j.RolledOut] {
		e := s.execs[name][id]
		if e == nil || name <= after {
			continue
		}
		if len(out) == limit {
			return out, true, nil
		}
		out = append(out, *e)
	}
	return out, false, nil
}

// ThingExecutions returns a thing's executions, by job id.
func (s *Service) ThingExecutions(name string) []Execution {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Execution
	for _, id := range sortedIDs(s.execs[name]) {
		out = append(out, *s.execs[name][id])
	}
	return out
}

// jobEvent is AWS's job event ($aws/events/job/{jobId}/{completed,canceled}).
func (s *Service) jobEvent(j *Job, op string) out {
	return out{thing.EventsPrefix + "job/" + j.ID + "/" + op, encode(map[string]any{
		"eventType": "JOB", "timestamp": s.o.Now().UnixMilli(), "operation": op, "jobId": j.ID,
		"status": j.Status, "comment": j.Comment, "jobProcessDetails": s.counts(j)})}
}

// executionEvent is AWS's job execution event
// ($aws/events/jobExecution/{jobId}/{succeeded,failed,…}).
func (s *Service) executionEvent(e *Execution) out {
	op := map[string]string{Succeeded: "succeeded", Failed: "failed", Rejected: "rejected", Canceled: "canceled",
		TimedOut: "timed_out", Removed: "removed"}[e.Status]
	return out{thing.EventsPrefix + "jobExecution/" + e.JobID + "/" + op, encode(map[string]any{
		"eventType": "JOB_EXECUTION", "timestamp": s.o.Now().UnixMilli(), "operation": op, "jobId": e.JobID,
		"thingName": e.ThingName, "status": e.Status, "statusDetails": e.StatusDetails, "versionNumber": e.VersionNumber})}
}
