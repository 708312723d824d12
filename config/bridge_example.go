package config

import "strings"

// bridgeExampleHead and bridgeExampleTail surround the registered types'
// keys in the commented-out bridge entry of Example.
const bridgeExampleHead = `# Bridges (docs/bridges.md, docs/kafka.md); none by default. Bridges created
# through the HTTP API are kept in data_dir/bridges.json. A rule sends its
# outputs to a bridge with the action {type: bridge, bridge: <name>}. An entry
# holds the common keys and the keys of its type; the entry below shows every
# type's keys (each type's package documents them).
bridges: []
#  - name: door_lock_state # 1 to 64 letters, digits, _ - or .
#    type: kafka_producer # the bridge type: TYPES
#    enabled: true # run the bridge; a disabled one keeps its disk queue
`

const bridgeExampleTail = `#    tls:
#      enabled: false # TLS to the target (Kafka, Redis, MQTT); a webhook uses these files for https URLs
#      ca_file: "" # PEM CAs to trust ("": the system roots)
#      cert_file: "" # client certificate (mutual TLS)
#      key_file: "" # client key (mutual TLS)
#      server_name: "" # name checked in the server certificate ("": from the address)
#      insecure_skip_verify: false # do not check the server certificate (tests only)
#    batch_size: 500 # most records per send
#    send_timeout: 10s # a send not answered in time shows the bridge disconnected (Kafka: still waited for; other sinks: its records are sent again)
#    buffer:
#      memory_records: 10000 # newest records also cached in memory (every record is in the durable queue)
#      max_bytes: 1073741824 # durable queue bound in data_dir/bridges/<name>/ (unsent records)
#      segment_bytes: 16777216 # size of one durable queue file
#      full_policy: drop_oldest # when the durable queue is full: drop_oldest or refuse (counted)
#      fsync: interval # with storage.durability, when records reach the disk: always, interval or never (a kill -9 loses no acknowledged record with any)
#      fsync_interval: 1s # period of the background fsync
#    dead_letter:
#      file: dead_letter.jsonl # records refused for good, as JSON lines (relative: in data_dir/bridges/<name>/; "" and no topic: dropped, counted)
#      max_bytes: 67108864 # when the file reaches it, it is rotated to <file>.1, replacing the previous one (counted)
#      mqtt_topic: "" # publish them into this hub instead, as JSON (QoS 1)
#      kafka_topic: "" # produce them to this Kafka topic instead, with the error in a header (kafka_producer)

`

// bridgeExample is the bridges section of Example: the common keys and
// each registered type's keys (bridge.TypeInfo.Example), a top-level
// section shared by two types shown once.
func bridgeExample() string {
	var b strings.Builder
	b.WriteString(strings.Replace(bridgeExampleHead, "TYPES", bridgeTypeNames(), 1))
	shown := map[string]bool{}
	for _, t := range bridgeTypes() {
		var body strings.Builder
		var shared []string
		skip := false
		for line := range strings.SplitSeq(strings.Trim(t.Example, "\n"), "\n") {
			if top, _, ok := strings.Cut(line, ":"); ok && line != "" && line[0] != ' ' && line[0] != '#' {
				skip = shown[top]
				if skip {
					shared = append(shared, top)
				}
				shown[top] = true
			}
			if !skip && strings.TrimSpace(line) != "" {
				body.WriteString("#    " + line + "\n")
			}
		}
		b.WriteString("#    # type " + t.Name)
		if len(shared) > 0 {
			b.WriteString(" (and " + strings.Join(shared, ", ") + ", above)")
		}
		b.WriteString(":\n" + body.String())
	}
	b.WriteString(bridgeExampleTail)
	return b.String()
}
