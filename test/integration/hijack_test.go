package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	gojwt "github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/internal/testutil"
)

// hijackKey is the bootstrap API key of the hijack tests' hubs.
const hijackKey = "ihk_hijack-test-key-0123456789"

// lockACL lets a lock read the commands of its client id and the backend
// send them: with %c, nothing but session ownership stops a client that
// uses lock B's client id.
const lockACL = `allow subscribe devices/%c/command
allow publish devices/%c/state
deny all #
`

// identityHub is a hub with one authenticator and the credentials of the
// locks: args gives the mosquitto arguments (address, TLS, credentials)
// and paho the paho.golang connection settings of a lock.
type identityHub struct {
	*hub
	args func(lock string) []string
	paho func(t *testing.T, lock, clientID string) (*paho.Client, *paho.Connack, error)
}

// hubWith starts a hub whose config is the ACL above, the bootstrap API
// key and extra (an auth section's chain and settings).
func hubWith(t *testing.T, extra string, env ...string) *hub {
	t.Helper()
	dir := t.TempDir()
	acl := filepath.Join(dir, "acl.txt")
	require.NoError(t, os.WriteFile(acl, []byte(lockACL), 0o600))
	cfg := writeConfig(t, extra+`
  acl:
    default: deny
    file: `+acl+"\n")
	return startHubIn(t, filepath.Join(dir, "data"), append(env, "IOTHUB_API_KEY="+hijackKey), "--config", cfg)
}

// passwordHub is an identityHub whose locks log in with a username and a
// password (what password gives for a lock).
func passwordHub(h *hub, password func(lock string) string) *identityHub {
	host, port, _ := net.SplitHostPort(h.mqtt)
	return &identityHub{
		hub:  h,
		args: func(lock string) []string { return []string{"-h", host, "-p", port, "-u", lock, "-P", password(lock)} },
		paho: func(t *testing.T, lock, clientID string) (*paho.Client, *paho.Connack, error) {
			nc, err := net.DialTimeout("tcp", h.mqtt, 5*time.Second)
			require.NoError(t, err)
			return pahoConnect(t, nc, clientID, lock, password(lock))
		},
	}
}

// pahoConnect connects paho.golang over nc (MQTT 5, persistent session).
func pahoConnect(t *testing.T, nc net.Conn, clientID, user, password string) (*paho.Client, *paho.Connack, error) {
	t.Helper()
	c := paho.NewClient(paho.ClientConfig{Conn: packets.NewThreadSafeConn(nc), OnClientError: func(error) {}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	exp := uint32(600)
	cp := &paho.Connect{ClientID: clientID, KeepAlive: 30, Properties: &paho.ConnectProperties{SessionExpiryInterval: &exp}}
	if user != "" {
		cp.Username, cp.UsernameFlag, cp.Password, cp.PasswordFlag = user, true, []byte(password), true
	}
	ack, err := c.Connect(ctx, cp)
	if err == nil {
		t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	} else {
		_ = nc.Close()
	}
	return c, ack, err
}

// bound is the client_ids setting that binds each identity to the client
// id of its name.
const bound = `client_ids: ["%u"]`

// The hubs below have one authenticator each; with bind, it admits each
// lock only with the client id of its name.

func usersHub(t *testing.T, bind bool) *identityHub {
	extra := "auth:\n  chain: [users]\n"
	if bind {
		extra += "  users:\n    " + bound + "\n"
	}
	h := hubWith(t, extra)
	addUser(t, h.dataDir, "lock-a", "pw-a")
	addUser(t, h.dataDir, "lock-b", "pw-b")
	return passwordHub(h, func(lock string) string { return "pw-" + strings.TrimPrefix(lock, "lock-") })
}

func jwtHub(t *testing.T, bind bool) *identityHub {
	const secret = "hijack-test-secret-0123456789"
	extra := "auth:\n  chain: [jwt]\n"
	if bind {
		extra += "  jwt:\n    client_id_claim: clientid\n"
	}
	h := hubWith(t, extra, "IOTHUB_AUTH_JWT_SECRET="+secret)
	return passwordHub(h, func(lock string) string {
		claims := gojwt.MapClaims{"sub": lock, "exp": time.Now().Add(time.Hour).Unix()}
		if bind {
			claims["clientid"] = "%u" // the token admits the client id of its subject
		}
		tok, err := gojwt.NewWithClaims(gojwt.SigningMethodHS256, claims).SignedString([]byte(secret))
		require.NoError(t, err)
		return tok
	})
}

// httpHub runs an authentication service (a real HTTP server) that
// allows lock-a/pw-a and lock-b/pw-b (with bind, each with the client id
// of its name).
func httpHub(t *testing.T, bind bool) *identityHub {
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Username, Password string }
		if json.NewDecoder(r.Body).Decode(&req) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		answer := map[string]any{"result": "deny"}
		if req.Password == "pw-"+strings.TrimPrefix(req.Username, "lock-") {
			answer["result"] = "allow"
		}
		if bind {
			answer["client_ids"] = []string{"%u"}
		}
		_ = json.NewEncoder(w).Encode(answer)
	}))
	t.Cleanup(svc.Close)
	h := hubWith(t, "auth:\n  chain: [http]\n  http:\n    url: "+svc.URL+"\n")
	return passwordHub(h, func(lock string) string { return "pw-" + strings.TrimPrefix(lock, "lock-") })
}

// certHub requires client certificates on a TLS listener; the
// certificate's CN is the username.
func certHub(t *testing.T, bind bool) *identityHub {
	ca := testutil.NewCA(t, "hijack test CA")
	server := ca.Server(t, "iothub test server")
	certs := map[string]testutil.CertFiles{"lock-a": ca.Client(t, "lock-a"), "lock-b": ca.Client(t, "lock-b")}
	mtls := freePort(t)
	extra := `listeners:
  tls:
` + mtlsListener(mtls, server, ca.File) + `      identity_from: cn
      identity_as: username
auth:
  chain: [cert]
`
	if bind {
		extra += "  cert:\n    " + bound + "\n"
	}
	h := hubWith(t, extra)
	waitListening(t, mtls, h.exited)
	return &identityHub{
		hub: h,
		args: func(lock string) []string {
			return []string{"-h", "localhost", "-p", port(mtls), "--cafile", ca.File, "--cert", certs[lock].CertFile, "--key", certs[lock].KeyFile}
		},
		paho: func(t *testing.T, lock, clientID string) (*paho.Client, *paho.Connack, error) {
			cert, err := tlsClientCert(certs[lock])
			require.NoError(t, err)
			nc, err := tlsDial(mtls, ca.File, cert)
			require.NoError(t, err)
			return pahoConnect(t, nc, clientID, "", "")
		},
	}
}

// TestHijack_eachAuthenticator is the attack of issue 14 against the built
// binary, with each authenticator: lock A, with its own valid credentials,
// uses lock B's client id to resume lock B's session and read the unlock
// command queued in it. mosquitto_sub (MQTT 5 and 3.1.1) and paho are
// refused (0x87 / 5) while lock B is offline and while it is online; lock B
// then gets its command, and stays connected.
func TestHijack_eachAuthenticator(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		start func(*testing.T, bool) *identityHub
	}{
		{"users", usersHub}, {"jwt", jwtHub}, {"http", httpHub}, {"cert", certHub},
	} {
		t.Run(tc.name, func(t *testing.T) { hijack(t, tc.start(t, false)) })
	}
}

func hijack(t *testing.T, h *identityHub) {
	lockB := func() *sub {
		return startSub(t, h.hub, append(h.args("lock-b"), "-V", "mqttv5", "-c", "-x", "600", "-i", "B", "-q", "1", "-t", "devices/B/command")...)
	}
	b := lockB()
	b.waitLine(t, "SUBACK")
	b.stop(t)
	awaitConnected(t, h.hub, "B", false)
	code, body := apiCall(t, h.hub, http.MethodPost, "/api/v1/devices/B/commands", hijackKey,
		`{"payload":{"action":"unlock"},"qos":1,"wait":"none"}`)
	require.Equal(t, http.StatusAccepted, code, body)
	require.Contains(t, body, `"status":"queued"`)

	for _, v := range []string{"mqttv5", "mqttv311"} {
		out, err := mosquitto(t, h.hub, "mosquitto_sub", append(h.args("lock-a"), "-V", v, "-c", "-i", "B", "-q", "1",
			"-t", "devices/B/command", "-W", "5")...)
		require.Error(t, err, "%s: %s", v, out)
		require.Contains(t, strings.ToLower(out), "not authori", "%s: %s", v, out)
		require.NotContains(t, out, "unlock")
	}

	b = lockB() // the queued command comes right after CONNACK, before SUBACK
	require.Contains(t, b.waitLine(t, "MSG devices/B/command"), `"action":"unlock"`)

	// Online now: paho with lock A's identity cannot take the session over.
	_, ack, err := h.paho(t, "lock-a", "B")
	require.Error(t, err)
	require.NotNil(t, ack)
	require.Equal(t, byte(0x87), ack.ReasonCode)
	code, body = apiCall(t, h.hub, http.MethodPost, "/api/v1/devices/B/commands", hijackKey,
		`{"payload":"still yours","qos":1,"wait":"acked","timeout":"10s"}`)
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, b.waitLine(t, "MSG devices/B/command"), "still yours")
	require.Equal(t, 3.0, metric(t, h.hub, "iothub_session_takeovers_refused_total"))
	h.waitLog(t, "session takeover refused", "client_id=B")
}

// stop ends the mosquitto_sub process (its connection drops, its session
// stays).
func (s *sub) stop(t *testing.T) {
	t.Helper()
	_ = s.cmd.Process.Kill()
	<-s.done
}

// awaitConnected waits until the hub reports client id's connection state.
func awaitConnected(t *testing.T, h *hub, id string, connected bool) {
	t.Helper()
	testutil.Eventually(t, 20*time.Second, func() bool {
		code, body := apiCall(t, h, http.MethodGet, "/api/v1/clients/"+id, hijackKey, "")
		return code == http.StatusOK && strings.Contains(body, fmt.Sprintf(`"connected":%v`, connected))
	}, fmt.Sprintf("client %s connected=%v", id, connected))
}

// tlsClientCert loads a client certificate.
func tlsClientCert(f testutil.CertFiles) (tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("client certificate: %w", err)
	}
	return c, nil
}

// tlsDial opens a TLS connection to addr trusting the CA file, with a
// client certificate.
func tlsDial(addr, caFile string, cert tls.Certificate) (net.Conn, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("ca: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second},
		Config: &tls.Config{RootCAs: pool, ServerName: "localhost", Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("tls dial: %w", err)
	}
	return c, nil
}

// TestBinding_eachAuthenticator: with each authenticator binding identities
// to client ids (`client_ids: ["%u"]` for users and cert, a JWT claim
// "clientid": "%u", the HTTP service answering client_ids ["%u"]), lock A
// connects with its own client id and is refused with lock B's:
// mosquitto_pub sees Client Identifier not valid (MQTT 5) or Identifier
// rejected (3.1.1), paho gets CONNACK 0x85.
func TestBinding_eachAuthenticator(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		start func(*testing.T, bool) *identityHub
	}{
		{"users", usersHub}, {"jwt", jwtHub}, {"http", httpHub}, {"cert", certHub},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.start(t, true)
			out, err := mosquitto(t, h.hub, "mosquitto_pub", append(h.args("lock-a"), "-V", "mqttv5", "-i", "lock-a",
				"-t", "devices/lock-a/state", "-m", "x")...)
			require.NoError(t, err, "its own client id: %s", out)
			for v, want := range map[string]string{"mqttv5": "client identifier not valid", "mqttv311": "identifier rejected"} {
				out, err := mosquitto(t, h.hub, "mosquitto_pub", append(h.args("lock-a"), "-V", v, "-i", "lock-b",
					"-t", "devices/lock-b/state", "-m", "x")...)
				require.Error(t, err, "%s: %s", v, out)
				require.Contains(t, strings.ToLower(out), want, v)
			}
			_, ack, err := h.paho(t, "lock-a", "lock-b")
			require.Error(t, err)
			require.NotNil(t, ack)
			require.Equal(t, byte(0x85), ack.ReasonCode)
			require.Equal(t, 3.0, metric(t, h.hub, `iothub_connects_refused_total{reason="client_identifier_not_valid"}`))
		})
	}
}

// TestBinding_usersClientIDs: with auth.users.client_ids ["%u"], each user
// connects only with the client id of its name; a user added with
// `iothub users add --client-id` has its own patterns. mosquitto_pub sees
// Client Identifier not valid (MQTT 5) or Identifier rejected (3.1.1).
func TestBinding_usersClientIDs(t *testing.T) {
	t.Parallel()
	h := hubWith(t, "auth:\n  chain: [users]\n  users:\n    client_ids: [\"%u\"]\n")
	addUser(t, h.dataDir, "lock-a", "pw-a")
	cmd := exec.Command(hubBinary, "users", "add", "--data-dir", h.dataDir, "--client-id", "backend-*", "backend")
	cmd.Stdin = strings.NewReader("pw-backend\n")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)

	tests := []struct {
		user, password, clientID, version, want string
	}{
		{"lock-a", "pw-a", "lock-a", "mqttv5", ""},
		{"lock-a", "pw-a", "lock-b", "mqttv5", "client identifier not valid"},
		{"lock-a", "pw-a", "lock-b", "mqttv311", "identifier rejected"},
		{"backend", "pw-backend", "backend-7", "mqttv5", ""},
		{"backend", "pw-backend", "backend", "mqttv5", "client identifier not valid"},
	}
	for _, tc := range tests {
		out, err := mosquitto(t, h, "mosquitto_pub", "-V", tc.version, "-i", tc.clientID, "-u", tc.user, "-P", tc.password,
			"-t", "devices/"+tc.clientID+"/state", "-m", "x")
		if tc.want == "" {
			require.NoError(t, err, "%s as %s: %s", tc.user, tc.clientID, out)
			continue
		}
		require.Error(t, err, "%s as %s", tc.user, tc.clientID)
		require.Contains(t, strings.ToLower(out), tc.want, "%s as %s", tc.user, tc.clientID)
	}
	require.Equal(t, 3.0, metric(t, h, `iothub_connects_refused_total{reason="client_identifier_not_valid"}`))
}

// TestHijack_takeoverAllowedStillCannotRead is the second attempt
// against the built binary: with auth.session_ownership off and %u rules,
// lock A resumes lock B's session with B's client id. The hub authorizes
// the session again for lock A: B's queued unlock is dropped
// (not_authorized) and B's subscription removed, so lock A gets only what
// its own subscription reads.
func TestHijack_takeoverAllowedStillCannotRead(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	acl := filepath.Join(dir, "acl.txt")
	require.NoError(t, os.WriteFile(acl, []byte("allow subscribe devices/%u/command\ndeny all #\n"), 0o600))
	cfg := writeConfig(t, "auth:\n  chain: [users]\n  session_ownership: false\n  acl:\n    default: deny\n    file: "+acl+"\n")
	h := startHubIn(t, filepath.Join(dir, "data"), []string{"IOTHUB_API_KEY=" + hijackKey}, "--config", cfg)
	addUser(t, h.dataDir, "lock-a", "pw-a")
	addUser(t, h.dataDir, "lock-b", "pw-b")
	session := func(user, topic string) *sub {
		return startSub(t, h, "-u", user, "-P", "pw-"+strings.TrimPrefix(user, "lock-"), "-V", "mqttv5", "-c", "-x", "600",
			"-i", "B", "-q", "1", "-t", topic)
	}
	b := session("lock-b", "devices/lock-b/command")
	b.waitLine(t, "SUBACK")
	b.stop(t)
	awaitConnected(t, h, "B", false)
	publish := func(topic, payload string) {
		code, body := apiCall(t, h, http.MethodPost, "/api/v1/publish", hijackKey,
			`{"topic":"`+topic+`","qos":1,"payload":`+payload+`}`)
		require.Equal(t, http.StatusOK, code, body)
	}
	publish("devices/lock-b/command", `{"action":"unlock"}`) // queued in B's session

	a := session("lock-a", "devices/lock-a/command")
	a.waitLineWithout(t, "SUBACK", "unlock")
	publish("devices/lock-b/command", `{"action":"unlock","again":true}`)
	publish("devices/lock-a/command", `"own"`)
	a.waitLineWithout(t, "MSG devices/lock-a/command", "devices/lock-b")
	require.Equal(t, 1.0, metric(t, h, `iothub_messages_dropped_total{reason="not_authorized"}`), "the queued unlock")
	code, body := apiCall(t, h, http.MethodGet, "/api/v1/clients/B/subscriptions", hijackKey, "")
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, "devices/lock-a/command")
	require.NotContains(t, body, "devices/lock-b/command", "B's subscription is not lock A's to read")
}
