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
		{"POST /api/v1/jobs", a.createJob},
		{"GET /api/v1/jobs", a.listJobs},
		{"GET /api/v1/jobs/{jobid}", a.getJob},
		{"POST /api/v1/jobs/{jobid}/cancel", a.cancelJob},
		{"GET /api/v1/jobs/{jobid}/executions", a.jobExecutions},
		{"GET /api/v1/devices/{clientid}/jobs", a.deviceJobs},
		{"PUT /api/v1/firmware/{name}", a.putFirmware},
		{"GET /api/v1/firmware", a.listFirmware},
		{"GET /api/v1/firmware/{name}", a.getFirmware},
		{"DELETE /api/v1/firmware/{name}", a.deleteFirmware},
		{"GET /ota/{name}", a.downloadFirmware},
	}
}

func (a *API) jobManager() (JobManager, error) {
	var m JobManager
	if a.o.Jobs != nil {
		m = a.o.Jobs()
	}
	if m == nil {
		return nil, errorf(http.StatusServiceUnavailable, CodeDevicesDisabled, "the device services are off (devices.enabled) or not started")
	}
	return m, nil
}

func (a *API) firmware() (FirmwareStore, error) {
	var f FirmwareStore
	if a.o.Firmware != nil {
		f = a.o.Firmware()
	}
	if f == nil {
		return nil, errorf(http.StatusServiceUnavailable, CodeDevicesDisabled, "the device services are off (devices.enabled) or not started")
	}
	return f, nil
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

func toExecutionsJSON(es []jobs.Execution) []executionJSON {
	out := make([]executionJSON, len(es))
	for i, e := range es {
		out[i] = toExecutionJSON(e)
	}
	return out
}

func (a *API) createJob(w http.ResponseWriter, r *http.Request) error {
	m, err := a.jobManager()
	if err != nil {
		return err
	}
	var req jobs.CreateRequest
	if err := decodeBody(r.Body, &req); err != nil {
		return err
	}
	info, err := m.Create(req)
	if err != nil {
		return jobError(err)
	}
	writeJSON(w, http.StatusCreated, info)
	return nil
}

func (a *API) listJobs(w http.ResponseWriter, r *http.Request) error {
	m, err := a.jobManager()
	if err != nil {
		return err
	}
	limit, after, err := pageParams(r)
	if err != nil {
		return err
	}
	list, more := m.List(r.URL.Query().Get("status"), after, limit)
	writeJSON(w, http.StatusOK, newPage(list, limit, more, func(j jobs.JobInfo) string { return j.ID }))
	return nil
}

func (a *API) getJob(w http.ResponseWriter, r *http.Request) error {
	m, err := a.jobManager()
	if err != nil {
		return err
	}
	info, err := m.Get(r.PathValue("jobid"))
	if err != nil {
		return jobError(err)
	}
	writeJSON(w, http.StatusOK, info)
	return nil
}

func (a *API) cancelJob(w http.ResponseWriter, r *http.Request) error {
	m, err := a.jobManager()
	if err != nil {
		return err
	}
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
	if err != nil {
		return jobError(err)
	}
	writeJSON(w, http.StatusOK, info)
	return nil
}

func (a *API) jobExecutions(w http.ResponseWriter, r *http.Request) error {
	m, err := a.jobManager()
	if err != nil {
		return err
	}
	limit, after, err := pageParams(r)
	if err != nil {
		return err
	}
	es, more, err := m.Executions(r.PathValue("jobid"), after, limit)
	if err != nil {
		return jobError(err)
	}
	writeJSON(w, http.StatusOK, newPage(toExecutionsJSON(es), limit, more, func(e executionJSON) string { return e.ThingName }))
	return nil
}

func (a *API) deviceJobs(w http.ResponseWriter, r *http.Request) error {
	m, err := a.jobManager()
	if err != nil {
		return err
	}
	es := toExecutionsJSON(m.ThingExecutions(r.PathValue("clientid")))
	writeJSON(w, http.StatusOK, newPage(es, len(es), false, func(e executionJSON) string { return e.JobID }))
	return nil
}

// putFirmware stores the body as the file, bounded by the firmware
// store's own limit (devices.ota.max_file_bytes).
func (a *API) putFirmware(w http.ResponseWriter, r *http.Request) error {
	f, err := a.firmware()
	if err != nil {
		return err
	}
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

func (a *API) listFirmware(w http.ResponseWriter, _ *http.Request) error {
	f, err := a.firmware()
	if err != nil {
		return err
	}
	files, err := f.List()
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newPage(files, len(files), false, func(f ota.File) string { return f.Name }))
	return nil
}

func (a *API) getFirmware(w http.ResponseWriter, r *http.Request) error {
	f, err := a.firmware()
	if err != nil {
		return err
	}
	file, err := f.Get(r.PathValue("name"))
	if err != nil {
		return jobError(err)
	}
	writeJSON(w, http.StatusOK, file)
	return nil
}

func (a *API) deleteFirmware(w http.ResponseWriter, r *http.Request) error {
	f, err := a.firmware()
	if err != nil {
		return err
	}
	if err := f.Delete(r.PathValue("name")); err != nil {
		return jobError(err)
	}
	writeJSON(w, http.StatusOK, map[string]string{"deleted": r.PathValue("name")})
	return nil
}

func (a *API) downloadFirmware(w http.ResponseWriter, r *http.Request) error {
	f, err := a.firmware()
	if err != nil {
		return err
	}
	return jobError(f.ServeDownload(w, r, r.PathValue("name")))
}
