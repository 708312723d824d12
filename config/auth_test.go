package config

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestValidate_auth(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		bad  string // key path named in the error; "" means valid
	}{
		{"door lock", `
auth:
  chain: [users, cert]
  acl:
    default: deny
    rules:
      - {permission: allow, who: {all: true}, action: publish, topics: ["devices/%c/state"]}
limits:
  listeners:
    - {name: tcp, connection_rate: 100}`, ""},
		{"unknown authenticator", "auth: {chain: [ldap]}", "auth.chain.0"},
		{"twice", "auth: {chain: [users, users]}", "auth.chain.1"},
		{"jwt without key", "auth: {chain: [jwt]}", "auth.jwt"},
		{"http without url", "auth: {chain: [http]}", "auth.http.url"},
		{"bad on_error", "auth: {chain: [http], http: {url: 'http://x/a', on_error: maybe}}", "auth.http.on_error"},
		{"rule with two whos", "auth: {acl: {rules: [{permission: allow, who: {all: true, username: a}, action: publish, topics: [a]}]}}", "auth.acl.rules.0.who"},
		{"rule without topic", "auth: {acl: {rules: [{permission: allow, who: {all: true}, action: publish}]}}", "auth.acl.rules.0.topics"},
		{"bad permission", "auth: {acl: {rules: [{permission: maybe, who: {all: true}, action: publish, topics: [a]}]}}", "auth.acl.rules.0.permission"},
		{"bad ban address", "auth: {ban: {static: [{kind: address, value: nowhere}]}}", "auth.ban.static.0.value"},
		{"plain password in config", "auth: {users: {static: [{username: a, password_hash: secret}]}}", "auth.users.static.0.password_hash"},
		{"limits of an unknown listener", "limits: {listeners: [{name: nope, publish_rate: 1}]}", "limits.listeners.0.name"},
		{"negative rate", "limits: {client: {publish_rate: -1}}", "limits.client.publish_rate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), "test")
			if tc.bad == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalid)
			require.ErrorContains(t, err, tc.bad)
		})
	}
}

func TestSet_authChain(t *testing.T) {
	c := Defaults()
	require.NoError(t, c.Set("auth.chain", "jwt,users"))
	require.Equal(t, []string{"jwt", "users"}, c.Auth.Chain)
}
