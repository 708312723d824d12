package config

import (
	"net/url"
	"time"
)

// Devices configures the device services: the registry, the AWS-compatible
// Device Shadow and Jobs on $aws/things/…, and firmware files for OTA jobs
// (docs/devices.md).
type Devices struct {
	// Enabled serves the registry, shadows and jobs.
	Enabled bool `yaml:"enabled"`
	// MaxImportBytes bounds a bulk import body (CSV or JSON lines).
	MaxImportBytes int `yaml:"max_import_bytes"`
	// Shadow configures the Device Shadow service.
	Shadow DevicesShadow `yaml:"shadow"`
	// Jobs configures the Jobs service.
	Jobs DevicesJobs `yaml:"jobs"`
	// OTA configures the firmware files jobs point to.
	OTA DevicesOTA `yaml:"ota"`
}

// DevicesShadow configures the Device Shadow service.
type DevicesShadow struct {
	// MaxStateBytes bounds a shadow's desired and reported state, in bytes.
	MaxStateBytes int `yaml:"max_state_bytes"`
	// MaxDepth bounds the nesting of desired and reported.
	MaxDepth int `yaml:"max_depth"`
	// Workers process shadow requests; each thing belongs to one.
	Workers int `yaml:"workers"`
	// QueueSize bounds each worker's queue; a request beyond gets 429.
	QueueSize int `yaml:"queue_size"`
}

// DevicesJobs configures the Jobs service.
type DevicesJobs struct {
	// SweepInterval is how often rollouts and timeouts are checked.
	SweepInterval Duration `yaml:"sweep_interval"`
	// MaxDocumentBytes bounds a job document.
	MaxDocumentBytes int `yaml:"max_document_bytes"`
}

// DevicesOTA configures firmware files.
type DevicesOTA struct {
	// Dir holds the firmware files ("": <data_dir>/firmware).
	Dir string `yaml:"dir"`
	// BaseURL is the hub's HTTP API address as devices reach it, for
	// download URLs ("": http(s)://localhost:<api port>).
	BaseURL string `yaml:"base_url"`
	// URLTTL is how long a signed download URL is valid.
	URLTTL Duration `yaml:"url_ttl"`
	// MaxFileBytes bounds an uploaded firmware file.
	MaxFileBytes int `yaml:"max_file_bytes"`
}

// defaultDevices is the devices section when nothing is configured.
func defaultDevices() Devices {
	return Devices{
		Enabled:        true,
		MaxImportBytes: 32 << 20,
		Shadow:         DevicesShadow{MaxStateBytes: 8192, MaxDepth: 6, Workers: 4, QueueSize: 1024},
		Jobs:           DevicesJobs{SweepInterval: Duration(5 * time.Second), MaxDocumentBytes: 32768},
		OTA:            DevicesOTA{URLTTL: Duration(time.Hour), MaxFileBytes: 256 << 20},
	}
}

func (d *Devices) validate(v *checker) {
	v.atLeast("devices.max_import_bytes", d.MaxImportBytes, 1024)
	v.between("devices.shadow.max_state_bytes", d.Shadow.MaxStateBytes, 1024, 1<<20)
	v.between("devices.shadow.max_depth", d.Shadow.MaxDepth, 1, 32)
	v.between("devices.shadow.workers", d.Shadow.Workers, 1, 1024)
	v.atLeast("devices.shadow.queue_size", d.Shadow.QueueSize, 1)
	v.duration("devices.jobs.sweep_interval", d.Jobs.SweepInterval, 10*time.Millisecond, time.Hour)
	v.between("devices.jobs.max_document_bytes", d.Jobs.MaxDocumentBytes, 64, 1<<20)
	v.duration("devices.ota.url_ttl", d.OTA.URLTTL, time.Second, 7*24*time.Hour)
	if d.OTA.MaxFileBytes < 1 {
		v.bad("devices.ota.max_file_bytes", "must be at least 1")
	}
	if d.OTA.BaseURL != "" {
		if u, err := url.Parse(d.OTA.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.bad("devices.ota.base_url", "%q is not an http:// or https:// URL", d.OTA.BaseURL)
		}
	}
}
