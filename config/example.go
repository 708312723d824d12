package config

import (
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// Example returns a complete, commented configuration file: every key with
// its default value and a one-line description. It decodes to exactly
// Defaults(). The tls and wss lists are empty by default, so their keys are
// shown as a commented-out entry to copy. The repository's
// iothub.example.yaml holds the same text.
func Example() []byte { return []byte(exampleText()) }

// exampleText is the example with the TLS listener keys and the bridges
// section of the registered types filled in.
func exampleText() string {
	text := strings.ReplaceAll(example, "{{tls_listener}}\n", exampleTLSListener)
	return strings.Replace(text, "{{bridges}}\n", bridgeExample(), 1)
}

// exampleTLSListener is the keys of a TLS listener, in the tls and the wss
// entries of the example.
const exampleTLSListener = `  #    cert_file: /etc/iothub/server.crt # PEM certificate chain (required)
  #    key_file: /etc/iothub/server.key # PEM private key (required)
  #    ca_file: "" # PEM bundle that verifies client certificates
  #    client_auth: none # client certificates: none, request or require (both need ca_file)
  #    min_version: "1.2" # lowest TLS version: "1.2" or "1.3"
  #    identity_from: none # client identity from its certificate: none, cn or san
  #    identity_as: username # that identity becomes the username or the client_id
  #    max_connections: 0 # connections on this listener (0: no cap here)
  #    max_packet_size: 0 # largest packet in bytes (0: mqtt.max_packet_size)
  #    proxy_protocol: false # expect a PROXY protocol v1/v2 header from a load balancer
`

// A template line is commented-out YAML: "#" followed by two spaces, where
// a prose comment has one.
var templateLine = regexp.MustCompile(`^(\s*)#(  .*)$`)

// uncommentExample turns the commented-out entries of Example into YAML, so
// that their keys and descriptions can be read like the others.
func uncommentExample() []byte {
	lines := strings.Split(exampleText(), "\n")
	inTemplate := false
	for i, l := range lines {
		m := templateLine.FindStringSubmatch(l)
		if m != nil {
			if !inTemplate && i > 0 {
				lines[i-1] = strings.TrimSuffix(lines[i-1], " []")
			}
			lines[i] = m[1] + " " + m[2]
		}
		inTemplate = m != nil
	}
	return []byte(strings.Join(lines, "\n"))
}

// exampleDocs maps each key path of Example to its one-line description.
func exampleDocs() map[string]string {
	var root yaml.Node
	docs := map[string]string{}
	if yaml.Unmarshal(uncommentExample(), &root) != nil {
		return docs
	}
	var walk func(n *yaml.Node, key string)
	walk = func(n *yaml.Node, key string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, key)
			}
		case yaml.SequenceNode:
			if len(n.Content) > 0 {
				walk(n.Content[0], join(key, "0"))
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if doc := comment(k.LineComment + v.LineComment); doc != "" {
					docs[join(key, k.Value)] = doc
				}
				walk(v, join(key, k.Value))
			}
		}
	}
	walk(&root, "")
	return docs
}

func comment(s string) string {
	return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s), "#"))
}

const example = `# iothub configuration.
#
# Every key is optional: a missing key keeps the default shown here. Unknown
# keys are errors. Every setting can also be set by an environment variable
# named IOTHUB_ followed by its key path in upper case, dots as underscores:
# mqtt.max_inflight is IOTHUB_MQTT_MAX_INFLIGHT. In a list of listeners only
# the first entry has variables (IOTHUB_LISTENERS_TCP_0_ADDRESS); they create
# it if the list is empty. Precedence: flag > environment > file > default.
# Durations are Go durations: "10s", "1m30s", "168h"; 0 is also accepted.

node:
  name: "iothub@127.0.0.1" # node name in $SYS topics, events and bridge records

data_dir: ./data # directory of the embedded store

log:
  level: info # debug, info, warn or error
  format: text # text or json

listeners:
  # Plain MQTT.
  tcp:
    - name: tcp # unique listener name (unnamed: tcp, tcp-1, ...)
      address: ":1883" # host:port to listen on; port 0 picks a free port
      max_connections: 0 # connections on this listener (0: no cap here)
      max_packet_size: 0 # largest packet in bytes (0: mqtt.max_packet_size)
      proxy_protocol: false # expect a PROXY protocol v1/v2 header from a load balancer

  # MQTT over WebSocket.
  ws:
    - name: ws # unique listener name (unnamed: ws, ws-1, ...)
      address: ":8083" # host:port to listen on
      path: /mqtt # HTTP path of the WebSocket endpoint
      allowed_origins: [] # accepted Origin headers (empty: any)
      trusted_proxies: [] # IPs or CIDRs whose X-Forwarded-For is believed (empty: none)
      max_connections: 0 # connections on this listener (0: no cap here)
      max_packet_size: 0 # largest packet in bytes (0: mqtt.max_packet_size)

  # MQTT over TLS; none by default. Uncomment and set the certificate:
  tls: []
  #  - name: tls # unique listener name (unnamed: tls, tls-1, ...)
  #    address: ":8883" # host:port to listen on
{{tls_listener}}

  # MQTT over WebSocket over TLS; none by default. Uncomment and set the certificate:
  wss: []
  #  - name: wss # unique listener name (unnamed: wss, wss-1, ...)
  #    address: ":8084" # host:port to listen on
{{tls_listener}}
  #    path: /mqtt # HTTP path of the WebSocket endpoint
  #    allowed_origins: [] # accepted Origin headers (empty: any)
  #    trusted_proxies: [] # IPs or CIDRs whose X-Forwarded-For is believed (empty: none)

api:
  address: ":18083" # host:port of the HTTP API (docs/http-api.md)
  key: "" # bootstrap API key for automation, besides <data_dir>/apikeys.json (at least 16 characters; better set IOTHUB_API_KEY)
  tls_cert_file: "" # PEM certificate: serve the API over HTTPS (with tls_key_file)
  tls_key_file: "" # PEM private key of tls_cert_file
  max_body_bytes: 1048576 # largest request body, in bytes
  read_header_timeout: 10s # time to send a request's headers (and finish the TLS handshake)
  read_timeout: 30s # time to send a whole request, body included; a client that stalls is cut off
  idle_timeout: 1m # a kept-alive connection with no request this long is closed
  max_connections: 4096 # connections open to the API port at once (0: no bound)
  max_connections_per_address: 256 # connections open at once from one IP address (IPv6: one /64); behind a reverse proxy raise it or set 0 (0: no bound)
  command_topic: devices/{clientid}/command # topic of a device command that names none
  rpc_response_topic: devices/{clientid}/reply # MQTT 5 response topic of a request/response call
  command_timeout: 10s # how long a command or RPC call waits when the request gives no timeout
  max_command_timeout: 5m # the longest timeout a request may ask for
  dashboard: true # serve the web dashboard at / (sign-in: <data_dir>/dashboard_users.json; docs/dashboard.md)
  session_idle_timeout: 30m # a dashboard session ends when unused this long

metrics:
  enabled: true # serve Prometheus metrics at GET /metrics on api.address
  require_api_key: false # true: /metrics needs an API key like /api/v1

# The embedded store: persistent sessions, their queued and in-flight
# messages and the retained messages survive restarts (docs/persistence.md).
storage:
  enabled: true # false: keep sessions and retained messages in memory only
  dir: "" # store directory (empty: <data_dir>/store)
  durability: fsync # fsync: acknowledged messages survive a power loss; os: a crash of the hub only (faster)

# Several hubs as one service behind one address (docs/cluster.md). Without
# an address the hub runs alone and starts no cluster machinery.
cluster:
  address: "" # host:port for node-to-node traffic (empty: no cluster)
  advertise: "" # host:port the other nodes dial (empty: address)
  seeds: [] # cluster addresses of nodes to join through (may list this node)
  name: iothub # nodes of different clusters refuse each other
  secret: "" # shared by every node, at least 16 characters: routes without it are refused (empty: unauthenticated)
  tls:
    cert_file: "" # this node's certificate (PEM) for server and client authentication; routes encrypted, both ways authenticated (all three files, or none: clear text)
    key_file: "" # its key (PEM)
    ca_file: "" # the CA that signs every node's certificate (PEM)
  replicas: 3 # copies of the replicated state (sessions, retained): 1 or 3
  dir: "" # replicated state of this node (empty: <data_dir>/cluster)
  forward_timeout: 2s # a QoS 1/2 message is sent again to nodes that did not store it in time
  node_timeout: 6s # a node silent this long is gone: its routes are purged, its sessions adopted

mqtt:
  max_connections: 0 # connections to the whole hub (0: the open-files limit less a quarter of it, at most 512, kept for the API, store and bridges)
  max_packet_size: 1048576 # largest packet accepted, in bytes
  max_inflight: 32 # unacknowledged QoS 1/2 messages per session
  max_queued_messages: 1000 # messages queued in memory per session (an offline persistent session's queue is on disk: max_backlog_bytes)
  queue_full_policy: drop_oldest # full queue: drop_oldest or drop_new
  max_pending_writes: 1024 # packets waiting for one socket; QoS 0 beyond are dropped
  max_queued_bytes: 16777216 # bytes queued in memory per session (0: no byte bound)
  max_backlog_bytes: 1073741824 # bytes queued on disk per offline persistent session, paged in on reconnect (0: none, offline queues stay in memory)
  max_pending_write_bytes: 4194304 # QoS 0 bytes waiting for one socket (0: no byte bound)
  max_buffered_bytes: 0 # budget for all queued, pending and partly received messages; over it publishers wait, new connections are refused (0: a quarter of the machine's memory; -1: none)
  max_connecting_bytes: 0 # budget for large CONNECT packets still arriving from clients not yet authenticated; over it such a client is closed (0: 64 MiB; -1: only max_buffered_bytes)
  backpressure_timeout: 2s # a message finding a connected subscriber's queue full waits this long for room (its publisher not read) before the queue policy drops (0: drop at once)
  backpressure_queue: 1000 # a connected subscriber whose queue holds this many messages slows its publishers (as if full) although max_queued_messages is larger: its latency stays bounded by this, not by its whole queue; a stalled subscriber's messages still go to the queue (0: only the queue's limits)
  max_topic_levels: 128 # levels in a topic name or filter
  max_topic_length: 65535 # bytes in a topic name or filter
  max_subscriptions_per_client: 0 # subscriptions per session (0: no cap)
  connect_timeout: 10s # time for a new connection to send CONNECT
  max_keepalive: 0s # cap on the keep alive a client asks for (0: no cap)
  max_session_expiry: 168h # how long an offline session is kept (0: no cap)
  topic_alias_maximum: 65535 # topic aliases a v5 client may use (0: none)
  shared_subscription_strategy: round_robin # $share member choice: round_robin or random
  write_timeout: 30s # close a connection whose socket takes no bytes this long
  write_coalesce: 100us # a TCP connection written to less than this long ago waits up to this long, so a busy subscriber gets one write per window (0: write every packet at once)
  park_idle_after: 1s # a TCP or TLS client silent this long holds no goroutine until bytes arrive (0: never; saves 2-6 KiB per idle connection)
  release_parked_sockets: true # a parked connection keeps only its socket's descriptor (~870 bytes less; a wake costs ~10 more system calls)
  sys_interval: 10s # how often $SYS topics are published (0: never)
  expiry_sweep_interval: 1m # how often expired messages are removed from offline sessions' queues and the store (0: only when sent or at start-up)
  retain_available: true # keep retained messages
  max_retained: 0 # retained messages kept (0: no cap)
  event_buffer: 8192 # length of the broker's event queue
  event_block_timeout: 5s # a QoS 1/2 message event waits this long for room in a full event queue (pausing its publisher) before it is dropped
  allow_anonymous: true # without an auth.chain: accept every client (logged loudly); false refuses all

# Authentication, authorization and bans (docs/security.md).
auth:
  chain: [] # authenticators asked in order: devices, users, jwt, http, cert (empty: none)
  allow_anonymous: false # with a chain: admit clients no authenticator accepted
  session_ownership: true # a session belongs to the identity that created it: another identity cannot resume or take it over (0x87)
  users:
    file: "" # JSON user file of iothub users add/remove (empty: users.json in data_dir)
    bcrypt_cost: 10 # bcrypt cost of new password hashes (MQTT users and dashboard users)
    cache_ttl: 1m # how long a successful login skips bcrypt (0: never)
    client_ids: [] # client ids of users that name none of their own: %u is the username, * any run ("%u", "lock-*"; empty: any)
    # Users defined here; "iothub users hash" prints a password hash.
    static: []
    #  - username: backend # MQTT user name
    #    password_hash: "$2a$10$..." # bcrypt hash of the password
    #    superuser: false # true: the ACL does not apply
    #    client_ids: ["backend-*"] # client ids the user may connect with (empty: users.client_ids)
  cert:
    client_ids: [] # client ids a certificate holder may use: ["%u"] requires the certificate identity (empty: any)
  jwt:
    secret: "" # HS256 shared secret (better set IOTHUB_AUTH_JWT_SECRET)
    public_key_file: "" # PEM RSA or P-256 public key or certificate (RS256, ES256)
    jwks_file: "" # JSON Web Key Set file (re-read when it changes)
    client_id_claim: "" # claim naming the client ids the token admits, a pattern or a list ("lock-7", "lock-*", "%u"; empty: any)
    username_claim: "" # claim that must equal the username (empty: none)
    acl_claim: "" # claim with a list of one-line ACL rules (empty: none)
    issuer: "" # required iss claim (empty: any)
    audience: "" # required aud claim (empty: any)
    leeway: 0s # clock skew tolerated in exp and nbf
  http:
    url: "" # POST endpoint of the authentication service
    timeout: 5s # how long a connecting device waits for the answer, a free pooled connection included
    request_timeout: 1m # a request the device stopped waiting for keeps its connection until the service answers or this passes (at least timeout)
    pool_size: 16 # connections open to the service at once, never more (also the requests in flight); a hanging service gets no new ones: at most pool_size per request_timeout
    cache_ttl: 30s # how long an answer is remembered (0: no cache)
    on_error: deny # service down, 5xx or timeout: deny, allow or ignore
  acl:
    default: allow # when no rule matches: allow or deny
    file: "" # file of one-line rules, after rules ("allow publish devices/%c/state")
    disconnect_on_deny: false # close the connection after a refused PUBLISH
    # Rules tried in order, before those of file; the first that matches answers.
    rules: []
    #  - permission: allow # allow or deny
    #    # who names the clients: exactly one of the four keys below.
    #    who:
    #      client_id: "" # one client id
    #      username: "" # one authenticated username
    #      address: "" # an IP address or CIDR prefix
    #      all: true # every client
    #    action: publish # publish, subscribe or all
    #    topics: ["devices/%c/state"] # topic filters; %c is the client id, %u the username
  # Slows password guessing without locking out a fleet behind one NAT (docs/security.md#brute-force).
  throttle:
    enabled: true # refuse at once (0x9F) a login whose username or address ran out of failure tokens
    username_failures: 5 # failed logins of one username checked at once, from any addresses
    username_every: 1m # then one more per this
    address_failures: 50 # failed logins from one address checked at once
    address_every: 1s # then one more per this
    familiar_for: 24h # a username that logged in from an address is counted apart there for this long
  ban:
    max_failures: 0 # failed logins from one IP within window that ban it (0: off)
    window: 1m # period failed logins are counted over
    ban_for: 5m # how long such an address stays banned
    # Bans that hold until removed from this file.
    static: []
    #  - kind: address # client_id, username or address
    #    value: 192.0.2.0/24 # the client id, username, IP or CIDR
    #    reason: "" # shown in logs

# Publish and connection rate limits (0: no limit).
limits:
  client:
    publish_rate: 0 # PUBLISH packets a second per client
    publish_burst: 0 # packets a client may send at once (0: publish_rate)
    publish_bytes_rate: 0 # payload bytes a second per client
    publish_bytes_burst: 0 # payload bytes at once (0: publish_bytes_rate)
  # Limits of all the clients of one listener together.
  listeners: []
  #  - name: tcp # listener name
  #    connection_rate: 0 # new connections accepted a second
  #    connection_burst: 0 # connections accepted at once (0: connection_rate)
  #    publish_rate: 0 # PUBLISH packets a second
  #    publish_bytes_rate: 0 # payload bytes a second

# The rule engine (docs/rules.md). Rules created through the HTTP API are kept
# in data_dir/rules.json; the rules below are read-only through the API.
rules:
  workers: 2 # deprecated, ignored: rules run on the goroutine that emitted the event (docs/rules.md)
  queue_size: 1024 # deprecated, ignored
  jq_timeout: 10s # longest a jq() call runs when it gives no timeout of its own
  max_state: 100000 # per rule: open windows, events buffered by sliding/count windows, values kept by deadband/changed
  # Protocol Buffers schemas for schema_decode/schema_encode (docs/rules.md, Schemas);
  # more can be created through the HTTP API. None by default:
  schemas: []
  #  - name: protobuf_person # 1 to 64 letters, digits, _ - or .
  #    type: protobuf # the schema type (protobuf)
  #    source: 'message Person { required string name = 1; required int32 id = 2; optional string email = 3; }' # the .proto text
  #    file: "" # or a .proto file to read the source from
  #    description: "" # free text
  # Rules of this file; none by default. Uncomment to alarm on low door-lock batteries:
  list: []
  #  - id: door_lock_low_battery # 1 to 64 letters, digits, _ - or .
  #    sql: 'SELECT clientid, payload.battery AS battery FROM "devices/+/state" WHERE payload.battery < 20' # the statement
  #    description: alarm when a lock's battery is low # free text
  #    enabled: true # evaluate the rule
  #    actions:
  #      - type: republish # republish or log (bridges add their types)
  #        topic: alarms/${clientid} # republish: topic template
  #        qos: 1 # republish: QoS 0, 1 or 2
  #        retain: false # republish: retain flag
  #        payload: '{"lock":"${clientid}","battery":${battery}}' # republish: payload template ("": the output as JSON)
  #        bridge: "" # bridge action: the kafka_producer bridge it feeds
  #        stream: "" # upstream action: the upstream stream it feeds ("": default)
  #      - type: log
  #      - type: bridge # hand the output to a kafka_producer bridge
  #        bridge: door_lock_state # bridge: the bridge's name

# Device management (docs/devices.md): the registry, and AWS IoT-compatible
# Device Shadow and Jobs on $aws/things/{thing}/... for the AWS IoT device SDKs.
devices:
  enabled: true # serve the registry, shadows and jobs
  max_import_bytes: 33554432 # largest bulk import body (CSV or JSON lines), in bytes
  shadow:
    max_state_bytes: 8192 # desired + reported state of one shadow, in bytes (AWS: 8 KB; 413 beyond)
    max_depth: 6 # nesting of desired and reported (AWS: 6)
    workers: 4 # goroutines serving shadow requests; one thing is always served by the same one
    queue_size: 1024 # requests queued per worker; a request beyond is answered 429
  jobs:
    sweep_interval: 5s # how often rollouts, timeouts and abort criteria are checked
    max_document_bytes: 32768 # largest job document, in bytes (AWS: 32 KB)
  ota:
    dir: "" # firmware files (empty: <data_dir>/firmware)
    base_url: "" # the HTTP API's URL as devices reach it, for download links (empty: http(s)://localhost:<api port>)
    url_ttl: 1h # how long a signed firmware download URL is valid
    max_file_bytes: 268435456 # largest firmware file, in bytes

{{bridges}}
# Edge: forward messages and rule outputs to a central hub over one MQTT 5
# link, through durable queues in data_dir/upstream/<stream>/, and relay
# commands from the centre to this hub's devices (docs/edge.md). Off while
# url is empty. Rules send outputs up with the action {type: upstream}.
upstream:
  url: "" # central hub: mqtt://host:1883, mqtts://host:8883, ws://host:8083/mqtt or wss://host:8084/mqtt
  name: "" # this edge's origin name at the centre ("": node.name)
  client_id: "" # the link's client id at the centre ("": iothub-edge-<name>)
  username: "" # user at the centre
  password: "" # password at the centre
  jwt_file: "" # file holding a JWT sent as the password, read at every connection
  tls:
    ca_file: "" # PEM CAs to trust for mqtts and wss ("": the system roots)
    cert_file: "" # client certificate (mutual TLS)
    key_file: "" # client key (mutual TLS)
    server_name: "" # name checked in the centre's certificate ("": from the URL)
    insecure_skip_verify: false # do not check the centre's certificate (tests only)
  keep_alive: 30s # MQTT keep alive of the link
  session_expiry: 24h # the centre keeps the link's session (queued commands) this long
  connect_timeout: 10s # bound on a connection attempt
  reconnect_max: 30s # longest wait between reconnection attempts (exponential backoff)
  forward: [] # topic filters of the default stream: matching messages go up as published
  queue:
    max_bytes: 1073741824 # the default stream's queue bound on disk
    ttl: 0s # drop messages older than this instead of sending them (0s: never)
    full_policy: drop_oldest # when the queue is full: drop_oldest or refuse (counted)
    fsync: interval # always, interval or never (a kill -9 loses nothing with any)
  streams: []
  #  - name: alarms # stream name (queue directory, rule action key stream)
  #    priority: 0 # a stream waits while one of higher priority has a backlog
  #    forward: [] # topic filters of this stream
  #    queue:
  #      max_bytes: 1073741824 # this stream's queue bound on disk
  #      ttl: 0s # drop messages older than this instead of sending them (0s: never)
  #      full_policy: drop_oldest # when the queue is full: drop_oldest or refuse (counted)
  #      fsync: interval # always, interval or never
  rate_limit: 0 # messages sent up per second, all streams (0: no cap): the backlog drain rate
  bandwidth_limit: 0 # topic and payload bytes sent up per second (0: no cap)
  subscribe: []
  #  - filter: devices/+/command # central topic filter whose messages are published here
  #    qos: 1 # subscription QoS
  #    local_topic: ${topic} # local topic template: ${topic} or ${suffix} (from the first wildcard on)
  commands: true # answer the centre's command relay for this hub's devices

# Centre of edge hubs: what this hub does with what edges send up.
edges:
  dedup_origins: 10000 # (edge, queue) pairs whose last routed sequence number is kept (drops resends)
  command_relay: false # relay commands for devices with no session here to the edges (ACL: only edges may subscribe $iothub/edges/commands)
`
