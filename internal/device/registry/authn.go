package registry

import (
	"context"
	"crypto/subtle"
	"errors"

	"github.com/iothub-dev/iothub/auth"
	"github.com/iothub-dev/iothub/mqtt/packet"
)

// Authenticator is the registry's authenticator for the hub's chain
// (auth.chain: [devices, …]). A client whose client id is a registered
// device:
//   - is refused (Not authorized) when the device is disabled;
//   - with credentials registered, is allowed when its password matches
//     the device's hash or its client certificate's SHA-256 matches the
//     device's fingerprint, and refused otherwise (Bad user name or
//     password), whatever later authenticators would say: no one connects
//     as a registered device without its credentials;
//   - without credentials registered, gets no opinion.
//
// Clients that are not registered get no opinion, so the next
// authenticator decides.
type Authenticator struct{ R *Registry }

// Authenticate implements auth.Authenticator.
func (a Authenticator) Authenticate(ctx context.Context, ci *auth.ConnectInfo) auth.Result {
	d, err := a.R.Get(ci.ClientID)
	switch {
	case errors.Is(err, ErrNotFound):
		return auth.Pass
	case err != nil:
		return auth.Denied(packet.ServerUnavailable, "registry: "+err.Error())
	case !d.Enabled:
		return auth.Denied(packet.NotAuthorized, "device "+d.ID+" is disabled")
	case !d.HasCredentials():
		return auth.Pass
	}
	if d.CertFingerprint != "" && subtle.ConstantTimeCompare([]byte(d.CertFingerprint), []byte(ci.CertFingerprint)) == 1 {
		return auth.Allowed(deviceIdentity(ci, &d))
	}
	if d.PasswordHash != "" && len(ci.Password) > 0 && a.R.auth.Check(ctx, d.ID, d.PasswordHash, ci.Password) {
		return auth.Allowed(deviceIdentity(ci, &d))
	}
	return auth.Denied(packet.BadUsernameOrPassword, "wrong credentials for device "+d.ID)
}

// deviceIdentity is the identity of a device the registry vouched for:
// the device is the principal, and its id the username, so that an ACL's
// %u never expands to a username the client picked (the registry checks
// the client id's credentials, not the username).
func deviceIdentity(ci *auth.ConnectInfo, d *Device) *auth.Identity {
	id := auth.NewIdentity(ci, "devices")
	id.Username, id.Principal = d.ID, d.ID
	return id
}

var _ auth.Authenticator = Authenticator{}
