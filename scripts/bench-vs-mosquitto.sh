#!/usr/bin/env bash
# Measures iothub against Mosquitto with `iothub bench`, on loopback only,
# and prints the tables of docs/benchmarks.md: medians over ROUNDS rounds;
# in each round the two brokers take turns, in alternating order, each on
# a fresh process.
#
#   bash scripts/bench-vs-mosquitto.sh                      # both profiles, ~25 minutes
#   PROFILES=same ROUNDS=1 CONNS=5000 bash scripts/bench-vs-mosquitto.sh   # quicker
#   ONLY="idle steady" bash scripts/bench-vs-mosquitto.sh   # some groups of rows
#
# ONLY picks groups of rows: idle, steady, overload, burst (burst and
# fan-out); all by default.
#
# Profiles (both brokers get the same limits in each):
#   same      queue 1,000,000 messages, window 1,000, no byte limits (the
#             limits of issue 17's overload run); iothub's back-pressure on
#   defaults  each broker on its own defaults (Mosquitto: queue 1,000,
#             window 20; iothub: queue 1,000 / 16 MiB, window 32,
#             back-pressure 2 s)
#
# Rows: steady device-like rates (100 publishers), the 100 -> 1 QoS 1
# overload (100 in flight per publisher, as fast as the broker takes them)
# with delivered % and PUBACKed-but-lost, the same with 1 publisher, a QoS 0
# burst, a 1 -> 1,000 fan-out, and idle connections with keep alive 300 over
# TCP, TLS (Go's default ClientHello, with the 1,216-byte post-quantum key
# share, and "TLS x25519": a device offering only X25519, a ClientHello of
# about 250 bytes) and WebSocket (Mosquitto's WebSocket listener does not start on
# this machine: its row is iothub's alone). Broker CPU is utime+stime of its
# PID (/proc/PID/stat) over each run; memory per idle connection the VmRSS
# delta (/proc/PID/status) 5 s after the last connection. The load
# generators share the machine with the broker. Needs mosquitto and openssl
# (scripts/test-deps.sh installs mosquitto).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
PROFILES=${PROFILES:-"same defaults"}
CONNS=${CONNS:-19000}   # idle connections (hard open-files limit here: 20,000)
SECS=${SECS:-8}         # length of the steady and overload runs
IDLE_SETTLE=${IDLE_SETTLE:-5}
ONLY=${ONLY:-"idle steady overload burst"}
want() { case " $ONLY " in *" $1 "*) return 0 ;; esac; return 1; }

MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)
[ -x "$MOSQUITTO" ] || { echo "mosquitto not found: run scripts/test-deps.sh" >&2; exit 1; }

WORK=$(mktemp -d /tmp/iothub-bench.XXXXXX)
BROKER_PID=""
cleanup() {
	if [ -n "$BROKER_PID" ]; then kill "$BROKER_PID" 2>/dev/null || true; wait "$BROKER_PID" 2>/dev/null || true; fi
	[ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

if [ -n "${IOTHUB_BIN:-}" ]; then
	cp "$IOTHUB_BIN" "$WORK/iothub"
else
	echo "building iothub..." >&2
	go build -o "$WORK/iothub" ./cmd/iothub
fi
BENCH="$WORK/iothub bench"
TCK=$(getconf CLK_TCK)
# A throw-away ECDSA certificate for both TLS listeners; Mosquitto, started
# as root, reads it after dropping to its own user.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
chmod a+rx "$WORK"; chmod a+r "$WORK/key.pem" "$WORK/cert.pem"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
	echo $((20000 + RANDOM % 10000)); }

wait_port() { # wait_port PORT: until something accepts on 127.0.0.1:PORT (10 s)
	for _ in $(seq 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	echo "nothing listening on port $1" >&2; return 1
}

# start_broker iothub|mosquitto PROFILE: sets BROKER_PID, PORT, TLS_PORT, WS_PORT
start_broker() {
	PORT=$(free_port); TLS_PORT=$(free_port); WS_PORT=$(free_port)
	local b=$1 profile=$2
	if [ "$b" = iothub ]; then
		local limits=""
		if [ "$profile" = same ]; then
			limits="  max_queued_messages: 1000000
  max_inflight: 1000
  max_pending_writes: 1000000
  max_queued_bytes: 0
  max_pending_write_bytes: 0"
		fi
		cat >"$WORK/iothub.yaml" <<-EOF
			data_dir: $WORK/data
			log: {level: warn}
			api: {address: "127.0.0.1:0"}
			listeners:
			  tcp: [{address: "127.0.0.1:$PORT"}]
			  ws: [{address: "127.0.0.1:$WS_PORT", path: /mqtt}]
			  tls: [{address: "127.0.0.1:$TLS_PORT", cert_file: $WORK/cert.pem, key_file: $WORK/key.pem}]
			mqtt:
			  sys_interval: 0s
			$limits
		EOF
		rm -rf "$WORK/data"
		"$WORK/iothub" serve --config "$WORK/iothub.yaml" >"$WORK/broker.log" 2>&1 &
	else
		local limits=""
		if [ "$profile" = same ]; then
			limits="max_queued_messages 1000000
max_inflight_messages 1000"
		fi
		cat >"$WORK/mosquitto.conf" <<-EOF
			allow_anonymous true
			persistence false
			sys_interval 0
			log_dest stderr
			log_type error
			$limits
			listener $PORT 127.0.0.1
			listener $TLS_PORT 127.0.0.1
			certfile $WORK/cert.pem
			keyfile $WORK/key.pem
		EOF
		# Mosquitto does not raise its own open-files limit.
		(ulimit -n "$(ulimit -Hn)" && exec "$MOSQUITTO" -c "$WORK/mosquitto.conf") >"$WORK/broker.log" 2>&1 &
	fi
	BROKER_PID=$!
	wait_port "$PORT"
}

stop_broker() {
	kill "$BROKER_PID" 2>/dev/null || true
	wait "$BROKER_PID" 2>/dev/null || true
	BROKER_PID=""
}

settle_rss() { # until VmRSS moves by under 256 KiB in 0.5 s (at most 15 s)
	local a b
	for _ in $(seq 30); do
		a=$(rss_kb); sleep 0.5; b=$(rss_kb)
		[ $((b > a ? b - a : a - b)) -lt 256 ] && return 0
	done
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$BROKER_PID/stat"; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$BROKER_PID/status"; }
jget() { grep -o "\"$1\":[-0-9.e+]*" "$2" | head -1 | cut -d: -f2; }
cpu_since() { awk -v a="$1" -v b="$(cpu_ticks)" -v t="$TCK" 'BEGIN {print (b - a) / t}'; }
per_cpu() { awk -v n="$1" -v c="$2" 'BEGIN {print (c > 0) ? n / c : 0}'; }

wait_line() { # wait_line FILE TEXT: until FILE has TEXT (60 s)
	for _ in $(seq 600); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
	echo "timed out waiting for '$2' in $1" >&2; cat "$1" >&2; return 1
}

RESULTS="$WORK/results.tsv" # profile broker row value
record() { printf '%s\t%s\t%s\t%s\n' "$PROFILE" "$1" "$2" "$3" >>"$RESULTS"; }

# start_sub QOS FILTER [CLIENTS] [IDLE]: a subscriber in the background
# (SUB_PID) that stops once nothing arrived for IDLE (default 3s).
start_sub() {
	$BENCH sub --addr "127.0.0.1:$PORT" --clients "${3:-1}" --topic "$2" --qos "$1" --duration 120s --idle "${4:-3s}" \
		--json >"$WORK/sub.json" 2>"$WORK/sub.err" &
	SUB_PID=$!
	wait_line "$WORK/sub.err" "subscribed"
}

# steady BROKER ROW QOS PUBS RATE_EACH: PUBS publishers at a steady rate
# on devices/%i/state -> 1 subscriber on devices/+/state, SECS seconds.
steady() {
	local b=$1 row=$2 qos=$3 pubs=$4 rate=$5
	start_sub "$qos" 'devices/+/state'
	local c0; c0=$(cpu_ticks)
	$BENCH pub --addr "127.0.0.1:$PORT" --clients "$pubs" --rate "$rate" --qos "$qos" --topic 'devices/%i/state' \
		--size 64 --duration "${SECS}s" --json >"$WORK/pub.json" 2>"$WORK/pub.err"
	wait "$SUB_PID"
	local cpu got sent; cpu=$(cpu_since "$c0"); got=$(jget received "$WORK/sub.json"); sent=$(jget published "$WORK/pub.json")
	record "$b" "$row: deliveries per CPU-s" "$(per_cpu "$got" "$cpu")"
	record "$b" "$row: delivered %" "$(awk -v n="$got" -v w="$sent" 'BEGIN {print (w > 0) ? 100 * n / w : 0}')"
	if [ "$qos" = 1 ]; then
		record "$b" "$row: p50 ms" "$(jget p50_ms "$WORK/sub.json")"
		record "$b" "$row: p99 ms" "$(jget p99_ms "$WORK/sub.json")"
	fi
}

# overload BROKER PUBS: PUBS QoS 1 publishers, 100 in flight each, as fast
# as the broker takes them -> 1 QoS 1 subscriber acknowledging at once.
overload() {
	local b=$1 pubs=$2 row="overload QoS 1 $2→1"
	# A long idle: a backlog drained late must not count as lost.
	start_sub 1 'ov/#' 1 10s
	local c0; c0=$(cpu_ticks)
	$BENCH pub --addr "127.0.0.1:$PORT" --clients "$pubs" --inflight 100 --rate 0 --qos 1 --topic 'ov/%i' \
		--size 64 --duration "${SECS}s" --json >"$WORK/pub.json" 2>"$WORK/pub.err"
	wait "$SUB_PID"
	local cpu got acked; cpu=$(cpu_since "$c0"); got=$(jget received "$WORK/sub.json"); acked=$(jget acked "$WORK/pub.json")
	record "$b" "$row: received msg/s" "$(jget rate_per_sec "$WORK/sub.json")"
	if [ "$pubs" -gt 1 ]; then
		record "$b" "$row: deliveries per CPU-s" "$(per_cpu "$got" "$cpu")"
		record "$b" "$row: delivered % of PUBACKed" "$(awk -v n="$got" -v w="$acked" 'BEGIN {print (w > 0) ? 100 * n / w : 0}')"
		record "$b" "$row: PUBACKed but lost" "$(awk -v n="$got" -v w="$acked" 'BEGIN {print (w > n) ? w - n : 0}')"
		record "$b" "$row: p99 ms" "$(jget p99_ms "$WORK/sub.json")"
	fi
}

# burst BROKER: 100 QoS 0 publishers send 5,000 messages each as fast as
# they can -> 1 QoS 0 subscriber.
burst() {
	local b=$1 row="QoS 0 burst 100→1 (500,000)"
	start_sub 0 'burst/#'
	local c0; c0=$(cpu_ticks)
	$BENCH pub --addr "127.0.0.1:$PORT" --clients 100 --rate 0 --count 5000 --qos 0 --topic 'burst/%i' \
		--size 64 --duration 60s --json >"$WORK/pub.json" 2>"$WORK/pub.err"
	wait "$SUB_PID"
	local cpu got; cpu=$(cpu_since "$c0"); got=$(jget received "$WORK/sub.json")
	record "$b" "$row: delivered %" "$(awk -v n="$got" 'BEGIN {print 100 * n / 500000}')"
	record "$b" "$row: deliveries per CPU-s" "$(per_cpu "$got" "$cpu")"
}

fanout() {
	local b=$1 row="QoS 0 fan-out 1→1000"
	start_sub 0 'fan/out' 1000
	local c0; c0=$(cpu_ticks)
	$BENCH pub --addr "127.0.0.1:$PORT" --clients 1 --rate 0 --count 200 --qos 0 --topic 'fan/out' \
		--size 64 --duration 60s --json >"$WORK/pub.json" 2>"$WORK/pub.err"
	wait "$SUB_PID"
	local cpu got; cpu=$(cpu_since "$c0"); got=$(jget received "$WORK/sub.json")
	record "$b" "$row: deliveries per CPU-s" "$(per_cpu "$got" "$cpu")"
}

# idle BROKER TRANSPORT: CONNS connections with keep alive 300 held idle.
idle() {
	local b=$1 tr=$2 port=$PORT flags=""
	case $tr in
	TLS) port=$TLS_PORT flags="--tls --insecure" ;;
	"TLS x25519") port=$TLS_PORT flags="--tls --insecure --curves x25519" ;;
	WebSocket) [ "$b" = iothub ] || return 0; port=$WS_PORT flags="--ws /mqtt" ;;
	esac
	# The baseline once the broker's start-up allocations are over (iothub
	# creates its first API key and dashboard user on a fresh data dir).
	settle_rss
	local r0; r0=$(rss_kb)
	# shellcheck disable=SC2086
	$BENCH conn --addr "127.0.0.1:$port" $flags --count "$CONNS" --keepalive 300s --hold "$((IDLE_SETTLE + 3))s" \
		--ifaddr 127.0.0.2-127.0.0.17 --json >"$WORK/conn.json" 2>"$WORK/conn.err" &
	local conn=$!
	wait_line "$WORK/conn.err" "holding"
	# Idle means idle: the hub parks a connection silent for 1s
	# (mqtt.park_idle_after) and returns the freed stacks within 2s more.
	sleep "$IDLE_SETTLE"
	local r1; r1=$(rss_kb)
	wait "$conn" || true
	local n; n=$(jget connected "$WORK/conn.json")
	record "$b" "idle $tr, keep alive 300: KiB per connection ($n)" "$(awk -v a="$r0" -v b="$r1" -v n="$n" 'BEGIN {print (n > 0) ? (b - a) / n : 0}')"
	record "$b" "connect rate conn/s ($tr, 64 in flight)" "$(jget connect_rate_per_sec "$WORK/conn.json")"
}

run_broker() { # run_broker BROKER: every row of PROFILE, fresh processes
	local b=$1
	echo "$PROFILE round $round: $b" >&2
	if want idle && [ "$PROFILE" = "${PROFILES%% *}" ]; then # idle rows do not depend on the limits: first profile only
		for tr in TCP TLS "TLS x25519" WebSocket; do start_broker "$b" "$PROFILE"; idle "$b" "$tr"; stop_broker; done
	fi
	if want steady; then
		start_broker "$b" "$PROFILE"
		steady "$b" "steady QoS 0 100→1 (100 × 500 msg/s)" 0 100 500
		steady "$b" "steady QoS 1 100→1 (5,000 msg/s)" 1 100 50
		stop_broker
	fi
	if want overload; then
		start_broker "$b" "$PROFILE"
		overload "$b" 100
		stop_broker
		start_broker "$b" "$PROFILE"
		overload "$b" 1
		stop_broker
	fi
	if want burst; then
		start_broker "$b" "$PROFILE"
		burst "$b"
		fanout "$b"
		stop_broker
	fi
}

for PROFILE in $PROFILES; do
	for round in $(seq "$ROUNDS"); do
		if [ $((round % 2)) = 1 ]; then order="iothub mosquitto"; else order="mosquitto iothub"; fi
		for b in $order; do run_broker "$b"; done
	done
done

# Median per profile, broker and row; then the ratio iothub / mosquitto.
for PROFILE in $PROFILES; do
	echo
	echo "profile: $PROFILE"
	echo
	echo "| measure | iothub | mosquitto | iothub / mosquitto |"
	echo "| --- | ---: | ---: | ---: |"
	awk -F'\t' -v p="$PROFILE" '
		$1 != p { next }
		{ key = $3; if (!(key in rows)) { rows[key] = ++n; order[n] = key }; v[$2, key, ++c[$2, key]] = $4 }
		function num(x) { return (x + 0 >= 100) ? sprintf("%.0f", x) : sprintf("%.3g", x) }
		function median(b, k,   m, i, j, t, a) {
			m = c[b, k]; if (m == 0) return ""
			for (i = 1; i <= m; i++) a[i] = v[b, k, i]
			for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
			return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
		}
		END {
			for (i = 1; i <= n; i++) {
				k = order[i]; x = median("iothub", k); y = median("mosquitto", k)
				printf "| %s | %s | %s | %s |\n", k, (x == "") ? "-" : num(x), (y == "") ? "-" : num(y), (x != "" && y != "" && y + 0 != 0) ? sprintf("%.2f", x / y) : "-"
			}
			x = median("iothub", "overload QoS 1 100→1: received msg/s"); y = median("iothub", "overload QoS 1 1→1: received msg/s")
			u = median("mosquitto", "overload QoS 1 100→1: received msg/s"); w = median("mosquitto", "overload QoS 1 1→1: received msg/s")
			if (y + 0 > 0 && w + 0 > 0) printf "| overload: 100 publishers / 1 publisher, %% | %.0f | %.0f | - |\n", 100 * x / y, 100 * u / w
		}' "$RESULTS"
done
echo
echo "rounds: $ROUNDS (medians); $(nproc) cores, shared; $(uname -r); $("$MOSQUITTO" -h 2>&1 | head -1)"
