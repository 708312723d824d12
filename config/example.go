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
func Example() []byte { return []byte(example) }

// A template line is commented-out YAML: "#" followed by two spaces, where
// a prose comment has one.
var templateLine = regexp.MustCompile(`^(\s*)#(  .*)$`)

// uncommentExample turns the commented-out entries of Example into YAML, so
// that their keys and descriptions can be read like the others.
func uncommentExample() []byte {
	lines := strings.Split(example, "\n")
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
  #    cert_file: /etc/iothub/server.crt # PEM certificate chain (required)
  #    key_file: /etc/iothub/server.key # PEM private key (required)
  #    ca_file: "" # PEM bundle that verifies client certificates
  #    client_auth: none # client certificates: none, request or require (both need ca_file)
  #    min_version: "1.2" # lowest TLS version: "1.2" or "1.3"
  #    identity_from: none # client identity from its certificate: none, cn or san
  #    identity_as: username # that identity becomes the username or the client_id
  #    max_connections: 0 # connections on this listener (0: no cap here)
  #    max_packet_size: 0 # largest packet in bytes (0: mqtt.max_packet_size)
  #    proxy_protocol: false # expect a PROXY protocol v1/v2 header from a load balancer

  # MQTT over WebSocket over TLS; none by default. Uncomment and set the certificate:
  wss: []
  #  - name: wss # unique listener name (unnamed: wss, wss-1, ...)
  #    address: ":8084" # host:port to listen on
  #    cert_file: /etc/iothub/server.crt # PEM certificate chain (required)
  #    key_file: /etc/iothub/server.key # PEM private key (required)
  #    ca_file: "" # PEM bundle that verifies client certificates
  #    client_auth: none # client certificates: none, request or require (both need ca_file)
  #    min_version: "1.2" # lowest TLS version: "1.2" or "1.3"
  #    identity_from: none # client identity from its certificate: none, cn or san
  #    identity_as: username # that identity becomes the username or the client_id
  #    max_connections: 0 # connections on this listener (0: no cap here)
  #    max_packet_size: 0 # largest packet in bytes (0: mqtt.max_packet_size)
  #    proxy_protocol: false # expect a PROXY protocol v1/v2 header from a load balancer
  #    path: /mqtt # HTTP path of the WebSocket endpoint
  #    allowed_origins: [] # accepted Origin headers (empty: any)
  #    trusted_proxies: [] # IPs or CIDRs whose X-Forwarded-For is believed (empty: none)

api:
  address: ":18083" # host:port of the HTTP API

mqtt:
  max_connections: 0 # connections to the whole hub (0: no cap)
  max_packet_size: 1048576 # largest packet accepted, in bytes
  max_inflight: 32 # unacknowledged QoS 1/2 messages per session
  max_queued_messages: 1000 # messages queued per session, online or offline
  queue_full_policy: drop_oldest # full queue: drop_oldest or drop_new
  max_pending_writes: 1024 # packets waiting for one socket; QoS 0 beyond are dropped
  max_topic_levels: 128 # levels in a topic name or filter
  max_topic_length: 65535 # bytes in a topic name or filter
  max_subscriptions_per_client: 0 # subscriptions per session (0: no cap)
  connect_timeout: 10s # time for a new connection to send CONNECT
  max_keepalive: 0s # cap on the keep alive a client asks for (0: no cap)
  max_session_expiry: 168h # how long an offline session is kept (0: no cap)
  topic_alias_maximum: 65535 # topic aliases a v5 client may use (0: none)
  shared_subscription_strategy: round_robin # $share member choice: round_robin or random
  write_timeout: 30s # close a connection whose socket takes no bytes this long
  sys_interval: 10s # how often $SYS topics are published (0: never)
  retain_available: true # keep retained messages
  max_retained: 0 # retained messages kept (0: no cap)
  event_buffer: 8192 # length of the broker's event queue
  allow_anonymous: true # accept clients without credentials (logged loudly)
`
