package app

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/iothub-dev/iothub/auth"
	"github.com/iothub-dev/iothub/config"
	"github.com/iothub-dev/iothub/internal/api"
	"github.com/iothub-dev/iothub/internal/device"
	"github.com/iothub-dev/iothub/internal/device/jobs"
	"github.com/iothub-dev/iothub/internal/device/ota"
	"github.com/iothub-dev/iothub/internal/device/registry"
	"github.com/iothub-dev/iothub/internal/device/shadow"
	"github.com/iothub-dev/iothub/internal/device/thing"
	"github.com/iothub-dev/iothub/internal/metrics"
	"github.com/iothub-dev/iothub/mqtt/packet"
	"github.com/iothub-dev/iothub/storage"
	"github.com/iothub-dev/iothub/storage/memstore"
)

// deviceState is the device services' part of the App (docs/devices.md).
type deviceState struct {
	authn    *deviceAuthn // "devices" in auth.chain, bound to registry at start
	registry *registry.Registry
	unevents func() // removes the registry's broker event handler
	shadow   *shadow.Service
	jobs     *jobs.Service
	ota      *ota.Store
	unhook   func() // removes the $aws/things/ handler from the broker
	memory   storage.Store
	started  bool
}

// deviceStore returns the store the device services keep their records
// in: the hub's embedded store, or one in memory when storage is off.
func (a *App) deviceStore() storage.Store {
	if a.store != nil {
		return a.store
	}
	if a.devices.memory == nil {
		a.devices.memory = memstore.New()
	}
	return a.devices.memory
}

// startDevices starts the shadow service and hooks it to the broker's
// $aws/things/ topics; nothing when devices.enabled is false. It runs
// after the store is open and before the listeners.
func (a *App) startDevices() error {
	c := a.cfg.Devices
	if !c.Enabled {
		return nil
	}
	st := a.deviceStore()
	a.devices.registry = registry.New(registry.Options{Store: st, Publisher: a.broker, Logger: a.log,
		BcryptCost: a.cfg.Auth.Users.BcryptCost, CacheTTL: cacheTTL(a.cfg.Auth.Users.CacheTTL.D()),
		OnDelete: a.removeThingJobs})
	a.devices.authn.reg.Store(a.devices.registry)
	if err := a.devices.registry.MarkDisconnected(a.cfg.Node.Name); err != nil {
		return err
	}
	a.devices.unevents = a.broker.AddEventHandler(a.devices.registry)
	a.devices.shadow = shadow.New(shadow.Options{
		Store:     a.shadowStore(), // cluster_shadow.go
		Publisher: a.broker,
		Limits:    shadow.Limits{MaxStateBytes: c.Shadow.MaxStateBytes, MaxDepth: c.Shadow.MaxDepth},
		Workers:   c.Shadow.Workers,
		QueueSize: c.Shadow.QueueSize,
		Logger:    a.log,
	})
	if err := a.startJobs(st); err != nil {
		return err
	}
	d := device.NewDispatcher(map[string]device.Service{"shadow": a.devices.shadow, "jobs": a.devices.jobs})
	a.devices.unhook = a.broker.HandleTopics(thing.Prefix, d)
	if a.metrics != nil {
		if err := a.metrics.AddDevices(a); err != nil {
			return fmt.Errorf("device metrics: %w", err)
		}
	}
	a.devices.started = true
	return nil
}

// stopDevices drains the services; call it after the broker's Shutdown.
func (a *App) stopDevices(ctx context.Context) error {
	if !a.devices.started {
		return nil
	}
	a.devices.unhook()
	a.devices.unevents()
	var errs []error
	errs = append(errs, a.devices.shadow.Close(ctx), a.devices.jobs.Close(ctx))
	if a.devices.memory != nil {
		errs = append(errs, a.devices.memory.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("devices: %w", err)
	}
	return nil
}

// removeThingJobs marks a deleted device's pending job executions
// REMOVED. Devices are deleted through the API, which starts after the
// jobs service.
func (a *App) removeThingJobs(id string) {
	if j := a.devices.jobs; j != nil {
		j.RemoveThing(id)
	}
}

// shadowManager is the shadow service for the API; nil when off.
func (a *App) shadowManager() api.ShadowManager {
	if a.devices.shadow == nil {
		return nil
	}
	return a.devices.shadow
}

// thingACL wraps the ACL so that the reserved $aws/ topics follow the
// device policy (a thing may use its own topics); unchanged when the
// device services are off.
func thingACL(enabled bool, authz auth.Authorizer) auth.Authorizer {
	chain, ok := authz.(*auth.AuthzChain)
	if !enabled || !ok {
		return authz
	}
	return &device.ThingACL{Chain: chain}
}

// registryManager is the device registry for the API; nil when off.
func (a *App) registryManager() api.RegistryManager {
	if a.devices.registry == nil {
		return nil
	}
	return a.devices.registry
}

// cacheTTL maps the config's 0 ("never cache") to the registry's negative.
func cacheTTL(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// deviceAuthn is the "devices" authenticator of auth.chain: the
// registry's once the device services started, which happens before any
// listener opens.
type deviceAuthn struct {
	reg atomic.Pointer[registry.Registry]
}

// Authenticate implements auth.Authenticator.
func (d *deviceAuthn) Authenticate(ctx context.Context, ci *auth.ConnectInfo) auth.Result {
	r := d.reg.Load()
	if r == nil {
		return auth.Denied(packet.ServerUnavailable, "the device registry is not started")
	}
	return registry.Authenticator{R: r}.Authenticate(ctx, ci)
}

// startJobs opens the firmware store and starts the jobs service.
func (a *App) startJobs(st storage.Store) error {
	c := a.cfg.Devices
	dir := c.OTA.Dir
	if dir == "" {
		dir = filepath.Join(a.cfg.DataDir, "firmware")
	}
	fw, err := ota.Open(ota.Options{Dir: dir, Meta: st, BaseURL: otaBaseURL(a.cfg), TTL: c.OTA.URLTTL.D(),
		MaxFileBytes: int64(c.OTA.MaxFileBytes)})
	if err != nil {
		return err
	}
	a.devices.ota = fw
	a.devices.jobs, err = jobs.New(jobs.Options{Store: st, Publisher: a.broker, Groups: a.devices.registry, Render: fw.Render,
		MaxDocumentBytes: c.Jobs.MaxDocumentBytes, SweepInterval: c.Jobs.SweepInterval.D(), Logger: a.log})
	if err != nil {
		return fmt.Errorf("devices: %w", err)
	}
	return nil
}

// otaBaseURL is devices.ota.base_url, or the API's address on localhost.
func otaBaseURL(cfg config.Config) string {
	if cfg.Devices.OTA.BaseURL != "" {
		return cfg.Devices.OTA.BaseURL
	}
	return strings.TrimSuffix(localAPIURL(cfg.API), "/")
}

// jobManager and firmware are the jobs service and the firmware store for
// the API; nil when off.
func (a *App) jobManager() api.JobManager {
	if a.devices.jobs == nil {
		return nil
	}
	return a.devices.jobs
}

func (a *App) firmware() api.FirmwareStore {
	if a.devices.ota == nil {
		return nil
	}
	return a.devices.ota
}

// DeviceStats returns the device services' counters for /metrics.
func (a *App) DeviceStats() metrics.DeviceStats {
	sh, jb := a.devices.shadow.Stats(), a.devices.jobs.Stats()
	return metrics.DeviceStats{ShadowAccepted: sh.Accepted, ShadowRejected: sh.Rejected, ShadowBusy: sh.Busy,
		JobsAccepted: jb.Accepted, JobsRejected: jb.Rejected, JobsThrottled: jb.Throttled}
}
