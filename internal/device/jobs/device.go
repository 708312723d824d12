package jobs

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/iothub-dev/iothub/internal/device/thing"
)

// serve answers one device request.
func (s *Service) serve(r *deviceRequest) {
	var req request
	var rej *rejection
	if len(bytes.TrimSpace(r.payload)) > 0 {
		rej = decodeRequest(r.payload, &req)
	}
	if len(req.ClientToken) > 64 {
		req.ClientToken = ""
		rej = &rejection{code: codeInvalidRequest, message: "clientToken is longer than 64 bytes"}
	}
	if rej != nil {
		// The token is echoed when it could be read (a wrong statusDetails).
		s.publish([]out{s.rejected(r.t, req.ClientToken, *rej)})
		return
	}
	s.mu.Lock()
	msgs := s.dispatch(r.t, &req)
	s.mu.Unlock()
	s.publish(msgs)
}

// decodeRequest reads a request document: AWS's InvalidJson when it is
// not UTF-8 JSON, InvalidRequest when it is but a field has the wrong
// type (statusDetails must map strings to strings, for example).
func decodeRequest(payload []byte, req *request) *rejection {
	if !utf8.Valid(payload) || !json.Valid(payload) {
		return &rejection{code: codeInvalidJSON, message: "the request is not valid UTF-8 JSON"}
	}
	if err := json.Unmarshal(payload, req); err != nil {
		return &rejection{code: codeInvalidRequest, message: "the request is invalid: " + err.Error()}
	}
	return nil
}

// dispatch runs the operation the topic names; the caller holds s.mu.
func (s *Service) dispatch(t thing.Topic, req *request) []out {
	switch rest := t.Rest; {
	case rest == "get":
		return []out{s.getPending(t, req)}
	case rest == "start-next":
		return s.startNext(t, req)
	case strings.HasSuffix(rest, "/get") && strings.Count(rest, "/") == 1:
		return []out{s.describe(t, strings.TrimSuffix(rest, "/get"), req)}
	case strings.HasSuffix(rest, "/update") && strings.Count(rest, "/") == 1:
		return s.update(t, strings.TrimSuffix(rest, "/update"), req)
	}
	return []out{s.rejected(t, req.ClientToken, rejection{code: codeInvalidTopic, message: "no jobs API is published on " + t.Rest})}
}

// getPending answers GetPendingJobExecutions.
func (s *Service) getPending(t thing.Topic, req *request) out {
	doc := pendingDoc{InProgressJobs: []summary{}, QueuedJobs: []summary{}, Timestamp: s.now(), ClientToken: req.ClientToken}
	for _, e := range s.pending(t.Thing) {
		if e.Status == InProgress {
			doc.InProgressJobs = append(doc.InProgressJobs, summaryOf(e))
		} else {
			doc.QueuedJobs = append(doc.QueuedJobs, summaryOf(e))
		}
	}
	return accepted(t, doc)
}

// startNext answers StartNextPendingJobExecution.
func (s *Service) startNext(t thing.Topic, req *request) []out {
	p := s.pending(t.Thing)
	doc := executionDoc{Timestamp: s.now(), ClientToken: req.ClientToken}
	if len(p) == 0 {
		return []out{accepted(t, doc)}
	}
	e := p[0]
	before := s.viewOf(t.Thing)
	var msgs []out
	if e.Status == Queued {
		s.transition(e, InProgress, req)
		msgs = s.afterChange(e, before)
	}
	doc.Execution = s.executionOf(e, true)
	return append([]out{accepted(t, doc)}, msgs...)
}

// describe answers DescribeJobExecution ($next: the next pending one).
func (s *Service) describe(t thing.Topic, jobID string, req *request) out {
	e := s.find(t.Thing, jobID)
	if e == nil && jobID == "$next" {
		return accepted(t, executionDoc{Timestamp: s.now(), ClientToken: req.ClientToken})
	}
	if e == nil {
		return s.rejected(t, req.ClientToken, rejection{code: codeNotFound, message: "no job execution " + jobID + " for " + t.Thing})
	}
	withDoc := req.IncludeJobDocument == nil || *req.IncludeJobDocument
	return accepted(t, executionDoc{Execution: s.executionOf(e, withDoc), Timestamp: s.now(), ClientToken: req.ClientToken})
}

// find returns thing's execution of jobID, or its next pending one for
// "$next"; nil when there is none.
func (s *Service) find(name, jobID string) *Execution {
	if jobID == "$next" {
		if p := s.pending(name); len(p) > 0 {
			return p[0]
		}
		return nil
	}
	return s.execs[name][jobID]
}

// update answers UpdateJobExecution.
func (s *Service) update(t thing.Topic, jobID string, req *request) []out {
	e := s.find(t.Thing, jobID)
	reject := func(r rejection) []out { return []out{s.rejected(t, req.ClientToken, r)} }
	switch {
	case e == nil:
		return reject(rejection{code: codeNotFound, message: "no job execution " + jobID + " for " + t.Thing})
	case req.Status != InProgress && req.Status != Succeeded && req.Status != Failed && req.Status != Rejected:
		return reject(rejection{code: codeInvalidRequest, message: "status must be IN_PROGRESS, SUCCEEDED, FAILED or REJECTED"})
	case req.ExpectedVersion != nil && *req.ExpectedVersion != e.VersionNumber:
		return reject(rejection{code: codeVersionMismatch, message: "the execution's version is not expectedVersion", state: stateOf(e)})
	case terminal(e.Status):
		return reject(rejection{code: codeInvalidTransition, message: "the execution is " + e.Status + ", a terminal state", state: stateOf(e)})
	}
	before := s.viewOf(t.Thing)
	s.transition(e, req.Status, req)
	msgs := s.afterChange(e, before)
	doc := updateDoc{Timestamp: s.now(), ClientToken: req.ClientToken}
	if req.IncludeExecutionSt {
		doc.ExecutionState = stateOf(e)
	}
	if req.IncludeJobDocument != nil && *req.IncludeJobDocument {
		if j := s.jobs[e.JobID]; j != nil {
			doc.JobDocument = s.render(j.Document)
		}
	}
	return append([]out{accepted(t, doc)}, msgs...)
}

// transition moves e to status with the request's details and step
// timeout; the caller holds s.mu.
func (s *Service) transition(e *Execution, status string, req *request) {
	now := s.now()
	if e.Status == Queued && status == InProgress || e.StartedAt == 0 && status == InProgress {
		e.StartedAt = now
		if j := s.jobs[e.JobID]; j != nil && j.InProgressTimeout > 0 {
			e.InProgressDeadline = now + int64(j.InProgressTimeout.seconds())
		}
		e.Deadline = e.InProgressDeadline
	}
	e.Status = status
	if req != nil && req.StatusDetails != nil {
		e.StatusDetails = req.StatusDetails
	}
	if status == InProgress && req != nil && req.StepTimeoutInMinutes != nil && *req.StepTimeoutInMinutes > 0 {
		step := now + *req.StepTimeoutInMinutes*60
		if e.InProgressDeadline == 0 || step < e.InProgressDeadline {
			e.Deadline = step
		} else {
			e.Deadline = e.InProgressDeadline
		}
	}
	if terminal(status) {
		e.Deadline = 0
	}
	e.VersionNumber++
	e.LastUpdatedAt = now
}

// afterChange persists e, and returns the thing's notifications, the
// execution's event and what finishing it did to its job.
func (s *Service) afterChange(e *Execution, before view) []out {
	msgs := s.notifications(e.ThingName, before)
	var jobs []*Job
	if terminal(e.Status) {
		msgs, jobs = s.finished(e, msgs, jobs)
	}
	s.persist(jobs, []*Execution{e})
	return msgs
}

// finished adds to msgs the event of e, an execution that reached a final
// state, and what that did to its job in progress (which may complete),
// and to jobs that job if it changed.
func (s *Service) finished(e *Execution, msgs []out, jobs []*Job) ([]out, []*Job) {
	msgs = append(msgs, s.executionEvent(e))
	if j := s.jobs[e.JobID]; j != nil && j.Status == JobInProgress {
		more, changed := s.settle(j)
		msgs = append(msgs, more...)
		if changed {
			jobs = append(jobs, j)
		}
	}
	return msgs, jobs
}

func (d Duration) seconds() float64 { return float64(d) / 1e9 }
