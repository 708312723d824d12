package api

import "net/http"

// component returns what get gives, or off when get is nil or gives nil:
// the component is turned off or not started yet.
func component[T any](get func() T, off error) (T, error) {
	if get != nil {
		if c := get(); any(c) != nil {
			return c, nil
		}
	}
	var zero T
	return zero, off
}

// devicesOff is the answer of a device service call while the device
// services are off.
func devicesOff() error {
	return errorf(http.StatusServiceUnavailable, CodeDevicesDisabled, "the device services are off (devices.enabled) or not started")
}

// reply ends a handler: when err is nil it writes v as the JSON answer
// with status, else it returns err as mapErr renders it (nil: as it is).
// v is evaluated by the caller either way, so it must be safe to build
// from a failed call's zero results.
func reply(w http.ResponseWriter, status int, v any, err error, mapErr func(error) error) error {
	if err != nil {
		if mapErr != nil {
			return mapErr(err)
		}
		return err
	}
	writeJSON(w, status, v)
	return nil
}

// using adapts a handler that needs a component: get (a 503 while the
// component is off) runs first, then h with what it gave.
func using[T any](get func() (T, error), h func(T, http.ResponseWriter, *http.Request) error) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		c, err := get()
		if err != nil {
			return err
		}
		return h(c, w, r)
	}
}
