package api

import (
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/iothub-dev/iothub/internal/device/jobs"
	"github.com/iothub-dev/iothub/internal/device/ota"
)

// JobManager is the Jobs service; *jobs.Service implements it
// (docs/devices.md).
type JobManager interface {
	Create(r jobs.CreateRequest) (jobs.JobInfo, error)
	Get(id string) (jobs.JobInfo, error)
	List(status, after string, limit int) ([]jobs.JobInfo, bool)
	Cancel(id string, force bool, comment string) (jobs.JobInfo, error)
	Executions(id, after string, limit int) ([]jobs.Execution, bool, error)
	ThingExecutions(thing string) []jobs.Execution
}

// FirmwareStore keeps the firmware files of OTA jobs; *ota.Store
// implements it.
type FirmwareStore interface {
	Put(name string, r io.Reader) (ota.File, error)
	Get(name string) (ota.File, error)
	List() ([]ota.File, error)
	Delete(name string) error
	ServeDownload(w http.ResponseWriter, r *http.Request, name string) error
}

// jobRoutes are the endpoints of jobs and firmware files. GET /ota/{name}
// is the devices' download, authorized by its signature, not a key.
func (a *API) jobRoutes() []route {
	return []route{
		{"POST /api/v1/jobs", using(a.jobManager, a.createJob)},
		{"GET /api/v1/jobs", using(a.jobManager, a.listJobs)},
		{"GET /api/v1/jobs/{jobid}", using(a.jobManager, a.getJob)},
		{"POST /api/v1/jobs/{jobid}/cancel", using(a.jobManager, a.cancelJob)},
		{"GET /api/v1/jobs/{jobid}/executions", using(a.jobManager, a.jobExecutions)},
		{"GET /api/v1/devices/{clientid}/jobs", using(a.jobManager, a.deviceJobs)},
		{"PUT /api/v1/firmware/{name}", using(a.firmware, a.putFirmware)},
		{"GET /api/v1/firmware", using(a.firmware, a.listFirmware)},
		{"GET /api/v1/firmware/{name}", using(a.firmware, a.getFirmware)},
		{"DELETE /api/v1/firmware/{name}", using(a.firmware, a.deleteFirmware)},
		{"GET /ota/{name}", using(a.firmware, a.downloadFirmware)},
	}
}

func (a *API) jobManager() (JobManager, error) {
	return component(a.o.Jobs, devicesOff())
}

func (a *API) firmware() (FirmwareStore, error) {
	return component(a.o.Firmware, devicesOff())
}

// jobError maps jobs and ota errors to *Error.
func jobError(err error) error {
	switch {
	case errors.Is(err, jobs.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: CodeJobNotFound, Message: err.Error(), Err: err}
	case errors.Is(err, jobs.ErrExists):
		return &Error{Status: http.StatusConflict, Code: CodeJobExists, Message: err.Error(), Err: err}
	case errors.Is(err, jobs.ErrTerminal):
		return &Error{Status: http.StatusConflict, Code: CodeJobTerminal, Message: err.Error(), Err: err}
	case errors.Is(err, jobs.ErrInvalid), errors.Is(err, ota.ErrInvalid):
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidJob, Message: err.Error(), Err: err}
	case errors.Is(err, ota.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: CodeFirmwareNotFound, Message: err.Error(), Err: err}
	case errors.Is(err, ota.ErrForbidden):
		return &Error{Status: http.StatusForbidden, Code: CodeForbidden, Message: err.Error(), Err: err}
	}
	return err
}

// executionJSON is a job execution in answers.
type executionJSON struct {
	JobID           string            `json:"job_id"`
	ThingName       string            `json:"thing_name"`
	Status          string            `json:"status"`
	StatusDetails   map[string]string `json:"status_details,omitempty"`
	QueuedAt        time.Time         `json:"queued_at"`
	StartedAt       *time.Time        `json:"started_at,omitempty"`
	LastUpdatedAt   time.Time         `json:"last_updated_at"`
	VersionNumber   int64             `json:"version_number"`
	ExecutionNumber int64             `json:"execution_number"`
}

func toExecutionJSON(e jobs.Execution) executionJSON {
	x := executionJSON{JobID: e.JobID, ThingName: e.ThingName, Status: e.Status, StatusDetails: e.StatusDetails,
		QueuedAt: time.Unix(e.QueuedAt, 0).UTC(), LastUpdatedAt: time.Unix(e.LastUpdatedAt, 0).UTC(),
		VersionNumber: e.VersionNumber, ExecutionNumber: e.ExecutionNumber}
	if e.StartedAt != 0 {
		t := time.Unix(e.StartedAt, 0).UTC()
		x.StartedAt = &t
	}
	return x
}

func (a *API) createJob(m JobManager, w http.ResponseWriter, r *http.Request) error {
	var req jobs.CreateRequest
	if err := decodeBody(r.Body, &req); err != nil {
		return err
	}
	info, err := m.Create(req)
	return reply(w, http.StatusCreated, info, err, jobError)
}

func (a *API) listJobs(m JobManager, w http.ResponseWriter, r *http.Request) error {
	limit, after, err := pageParams(r)
	if err != nil {
		return err
	}
	list, more := m.List(r.URL.Query().Get("status"), after, limit)
	writeJSON(w, http.StatusOK, newPage(list, limit, more, func(j jobs.JobInfo) string { return j.ID }))
	return nil
}

func (a *API) getJob(m JobManager, w http.ResponseWriter, r *http.Request) error {
	info, err := m.Get(r.PathValue("jobid"))
	return reply(w, http.StatusOK, info, err, jobError)
}

func (a *API) cancelJob(m JobManager, w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Force   bool   `json:"force"`
		Comment string `json:"comment"`
	}
	if r.ContentLength != 0 {
		if err := decodeBody(r.Body, &req); err != nil {
			return err
		}
	}
	info, err := m.Cancel(r.PathValue("jobid"), req.Force, req.Comment)
	return reply(w, http.StatusOK, info, err, jobError)
}

func (a *API) jobExecutions(m JobManager, w http.ResponseWriter, r *http.Request) error {
	limit, after, err := pageParams(r)
	if err != nil {
		return err
	}
	es, more, err := m.Executions(r.PathValue("jobid"), after, limit)
	return reply(w, http.StatusOK, newPage(convertAll(es, toExecutionJSON), limit, more, func(e executionJSON) string { return e.ThingName }), err, jobError)
}

func (a *API) deviceJobs(m JobManager, w http.ResponseWriter, r *http.Request) error {
	es := convertAll(m.ThingExecutions(r.PathValue("clientid")), toExecutionJSON)
	writeJSON(w, http.StatusOK, newPage(es, len(es), false, func(e executionJSON) string { return e.JobID }))
	return nil
}

// putFirmware stores the body as the file, bounded by the firmware
// store's own limit (devices.ota.max_file_bytes).
func (a *API) putFirmware(f FirmwareStore, w http.ResponseWriter, r *http.Request) error {
	file, err := f.Put(r.PathValue("name"), r.Body)
	if err != nil {
		return jobError(err)
	}
	if file, err = f.Get(file.Name); err != nil {
		return jobError(err)
	}
	writeJSON(w, http.StatusCreated, file)
	return nil
}

func (a *API) listFirmware(f FirmwareStore, w http.ResponseWriter, _ *http.Request) error {
	files, err := f.List()
	return reply(w, http.StatusOK, newPage(files, len(files), false, func(f ota.File) string { return f.Name }), err, nil)
}

func (a *API) getFirmware(f FirmwareStore, w http.ResponseWriter, r *http.Request) error {
	file, err := f.Get(r.PathValue("name"))
	return reply(w, http.StatusOK, file, err, jobError)
}

func (a *API) deleteFirmware(f FirmwareStore, w http.ResponseWriter, r *http.Request) error {
	return reply(w, http.StatusOK, map[string]string{"deleted": r.PathValue("name")}, f.Delete(r.PathValue("name")), jobError)
}

func (a *API) downloadFirmware(f FirmwareStore, w http.ResponseWriter, r *http.Request) error {
	return jobError(f.ServeDownload(w, r, r.PathValue("name")))
}
