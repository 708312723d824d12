package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/iothub-dev/iothub/internal/broker"
)

// brokerCollector turns one broker.Stats snapshot per scrape into metrics.
type brokerCollector struct {
	src StatsSource
}

func newBrokerCollector(src StatsSource) *brokerCollector { return &brokerCollector{src: src} }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// number is what a sample's value may be read from.
type number interface {
	~int | ~int64 | ~uint64 | ~float64
}

// describe sends descs to ch (a Collector's Describe).
func describe(ch chan<- *prometheus.Desc, descs ...*prometheus.Desc) {
	for _, d := range descs {
		ch <- d
	}
}

// oneIf is a state's gauge value: 1 when b holds, else 0.
func oneIf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// counter sends one counter sample of d to ch.
func counter[N number](ch chan<- prometheus.Metric, d *prometheus.Desc, v N, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

// gauge sends one gauge sample of d to ch.
func gauge[N number](ch chan<- prometheus.Metric, d *prometheus.Desc, v N, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
}

// The broker's metrics; docs/observability.md describes each.
var (
	descUptime           = desc("iothub_uptime_seconds", "Seconds since the broker started.")
	descConnections      = desc("iothub_connections", "Open network connections, by listener.", "listener")
	descConnectionsTotal = desc("iothub_connections_total", "Network connections accepted since start, by listener.", "listener")
	descClients          = desc("iothub_clients_connected", "Clients connected (CONNECT accepted), by MQTT protocol version.", "protocol_version")
	descConnects         = desc("iothub_connects_total", "CONNECTs accepted, by MQTT protocol version.", "protocol_version")
	descConnectsRefused  = desc("iothub_connects_refused_total", "CONNECTs refused, by CONNACK reason.", "reason")
	descDisconnects      = desc("iothub_disconnects_total", "Connections closed, by cause.", "reason")
	descAuth             = desc("iothub_auth_total", "Authentication attempts, by result (success, failure).", "result")
	descAuthFailures     = desc("iothub_auth_failures_total", "Failed authentications, by CONNACK reason (bad_user_name_or_password, not_authorized, banned, server_unavailable, …).", "reason")
	descAuthzDenied      = desc("iothub_authz_denied_total", "What the ACL refused, by action: PUBLISH packets, wills included (publish); subscription filters, also those dropped when a session is resumed (subscribe); messages not delivered through a wildcard subscription whose subscriber may not read their topic (read).", "action")
	descOwnerRefused     = desc("iothub_session_takeovers_refused_total", "CONNECTs refused because the session of their client id belongs to another identity (auth.session_ownership).")
	descRateLimited      = desc("iothub_rate_limited_total", "Rate-limited PUBLISH packets (kind publish) and delayed connections (kind connection).", "kind")
	descMessagesIn       = desc("iothub_messages_received_total", "PUBLISH packets received from clients, by QoS.", "qos")
	descMessagesOut      = desc("iothub_messages_sent_total", "PUBLISH packets written to clients, by QoS.", "qos")
	descPayloadIn        = desc("iothub_payload_received_bytes_total", "Payload bytes of PUBLISH packets received, by QoS.", "qos")
	descPayloadOut       = desc("iothub_payload_sent_bytes_total", "Payload bytes of PUBLISH packets written, by QoS.", "qos")
	descBytesIn          = desc("iothub_received_bytes_total", "Bytes of MQTT packets received (all packet types).")
	descBytesOut         = desc("iothub_sent_bytes_total", "Bytes written to client sockets (all packet types).")
	descDropped          = desc("iothub_messages_dropped_total", "Deliveries not made, by reason.", "reason")
	descRetained         = desc("iothub_retained_messages", "Retained messages stored.")
	descSubscriptions    = desc("iothub_subscriptions", "Subscriptions (topic filters) of all sessions.")
	descSessions         = desc("iothub_sessions", "Sessions, connected or not.")
	descParked           = desc("iothub_connections_parked", "Idle connections parked in the poller, holding no goroutine.")
	descReleased         = desc("iothub_connections_released", "Parked connections holding only their socket's descriptor (no Go net.Conn).")
	descInflight         = desc("iothub_inflight_messages", "QoS 1/2 deliveries awaiting acknowledgement.")
	descQueued           = desc("iothub_queued_messages", "Messages waiting in session queues.")
	descQueuedDisk       = desc("iothub_queued_on_disk_messages", "Messages of session queues held only in the store (offline persistent sessions' backlogs), included in iothub_queued_messages.")
	descQueuedDiskBytes  = desc("iothub_queued_on_disk_bytes", "Size of the messages counted in iothub_queued_on_disk_messages (topic and payload plus a fixed overhead each).")
	descBPWaits          = desc("iothub_backpressure_waits_total", "Times a publisher waited for room in a subscriber's full queue or in the memory budget.")
	descBPTimeouts       = desc("iothub_backpressure_timeouts_total", "Waits that lasted the whole mqtt.backpressure_timeout (the queue policy then applied).")
	descBuffered         = desc("iothub_buffered_bytes", "Bytes held for messages on their way: session queues, pending writes, large inbound packets.")
	descBufferedLimit    = desc("iothub_buffered_bytes_limit", "The memory budget mqtt.max_buffered_bytes (0: none).")
	descBudgetRefused    = desc("iothub_memory_budget_refused_total", "Connections and large packets refused while the memory budget was spent.")
	descEventsDropped    = desc("iothub_events_dropped_total", "Broker events dropped because a listener's queue was full.")
	descMalformed        = desc("iothub_malformed_packets_total", "Connections closed for a malformed or too large packet.")
	descProtocolErrors   = desc("iothub_protocol_errors_total", "Connections closed for a protocol violation.")
	allDescs             = []*prometheus.Desc{descUptime, descConnections, descConnectionsTotal, descClients, descConnects, descConnectsRefused, descDisconnects, descAuth, descAuthFailures, descAuthzDenied, descOwnerRefused, descRateLimited, descMessagesIn, descMessagesOut, descPayloadIn, descPayloadOut, descBytesIn, descBytesOut, descDropped, descRetained, descSubscriptions, descSessions, descParked, descReleased, descInflight, descQueued, descQueuedDisk, descQueuedDiskBytes, descBPWaits, descBPTimeouts, descBuffered, descBufferedLimit, descBudgetRefused, descEventsDropped, descMalformed, descProtocolErrors}
)

// Describe implements prometheus.Collector.
func (c *brokerCollector) Describe(ch chan<- *prometheus.Desc) {
	describe(ch, allDescs...)
}

// Collect implements prometheus.Collector: one Stats snapshot per scrape.
func (c *brokerCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.src.Stats()
	gauge(ch, descUptime, st.Uptime.Seconds())
	for l, v := range st.ConnectionsByListener {
		gauge(ch, descConnections, float64(v), l)
	}
	for l, v := range st.ConnectionsTotalByListener {
		counter(ch, descConnectionsTotal, float64(v), l)
	}
	for ver, v := range st.ConnectedByVersion {
		gauge(ch, descClients, float64(v), ver)
	}
	for ver, v := range st.ConnectsByVersion {
		counter(ch, descConnects, float64(v), ver)
	}
	for r, v := range st.ConnectsRefused {
		counter(ch, descConnectsRefused, float64(v), r)
	}
	for r, v := range st.Disconnects {
		counter(ch, descDisconnects, float64(v), r)
	}
	counter(ch, descAuth, float64(st.AuthSucceeded), "success")
	counter(ch, descAuth, float64(st.AuthFailed), "failure")
	for r, v := range st.AuthFailedByReason {
		counter(ch, descAuthFailures, float64(v), r)
	}
	counter(ch, descAuthzDenied, float64(st.AuthzDeniedPublish), "publish")
	counter(ch, descAuthzDenied, float64(st.AuthzDeniedSubscribe), "subscribe")
	counter(ch, descAuthzDenied, float64(st.AuthzDeniedRead), "read")
	counter(ch, descOwnerRefused, float64(st.SessionTakeoversRefused))
	counter(ch, descRateLimited, float64(st.PublishRateLimited), "publish")
	counter(ch, descRateLimited, float64(st.ConnectionRateLimited), "connection")
	collectByQoS(ch, st)
	counter(ch, descBytesIn, float64(st.BytesIn))
	counter(ch, descBytesOut, float64(st.BytesOut))
	for r, v := range st.Dropped {
		counter(ch, descDropped, float64(v), r)
	}
	gauge(ch, descRetained, float64(st.Retained))
	gauge(ch, descSubscriptions, float64(st.Subscriptions))
	gauge(ch, descSessions, float64(st.Sessions))
	gauge(ch, descParked, float64(st.ParkedConnections))
	gauge(ch, descReleased, float64(st.ReleasedSockets))
	gauge(ch, descInflight, float64(st.Inflight))
	gauge(ch, descQueued, float64(st.Queued))
	gauge(ch, descQueuedDisk, float64(st.QueuedOnDisk))
	gauge(ch, descQueuedDiskBytes, float64(st.QueuedOnDiskBytes))
	counter(ch, descBPWaits, float64(st.BackpressureWaits))
	counter(ch, descBPTimeouts, float64(st.BackpressureTimeouts))
	gauge(ch, descBuffered, float64(st.BufferedBytes))
	gauge(ch, descBufferedLimit, float64(max(st.BufferedBytesLimit, 0)))
	counter(ch, descBudgetRefused, float64(st.BudgetRefused))
	counter(ch, descEventsDropped, float64(st.EventsDropped))
	counter(ch, descMalformed, float64(st.MalformedPackets))
	counter(ch, descProtocolErrors, float64(st.ProtocolErrors))
}

func collectByQoS(ch chan<- prometheus.Metric, st broker.Stats) {
	for q, l := range qosLabels {
		counter(ch, descMessagesIn, float64(st.MessagesInByQoS[q]), l)
		counter(ch, descMessagesOut, float64(st.MessagesOutByQoS[q]), l)
		counter(ch, descPayloadIn, float64(st.PayloadBytesInByQoS[q]), l)
		counter(ch, descPayloadOut, float64(st.PayloadBytesOutByQoS[q]), l)
	}
}
