#!/usr/bin/env bash
# Measures iothub against Mosquitto with `iothub bench`, on loopback only,
# and prints the table of docs/benchmarks.md (medians over ROUNDS rounds;
# in each round the two brokers take turns, in alternating order).
#
#   bash scripts/bench-vs-mosquitto.sh            # about 3-4 minutes
#   ROUNDS=1 CONNS=5000 bash scripts/bench-vs-mosquitto.sh   # quicker
#   ROUNDS=5 ONLY=latency bash scripts/bench-vs-mosquitto.sh # the latency row alone, fresh processes
#
# Each broker runs on a private loopback port with its own minimal config;
# broker CPU is utime+stime of its PID (/proc/PID/stat) over each run, and
# memory per idle connection the VmRSS delta (/proc/PID/status) while CONNS
# connections are held. Needs mosquitto (scripts/test-deps.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-2}
CONNS=${CONNS:-19000}          # idle connections (hard open-files limit here: 20,000)
FANIN_PUBS=${FANIN_PUBS:-100}
FANIN_Q0_EACH=${FANIN_Q0_EACH:-2000}  # messages per publisher, QoS 0
FANIN_Q1_EACH=${FANIN_Q1_EACH:-1000}  # messages per publisher, QoS 1
FANOUT_SUBS=${FANOUT_SUBS:-1000}
FANOUT_MSGS=${FANOUT_MSGS:-200}
LAT_RATE=${LAT_RATE:-5000}     # msgs/s of the latency run (QoS 1, 20 publishers)
LAT_SECS=${LAT_SECS:-5}

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

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
	echo $((20000 + RANDOM % 10000)); }

wait_port() { # wait_port PORT: until something accepts on 127.0.0.1:PORT (10 s)
	for _ in $(seq 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	echo "nothing listening on port $1" >&2; return 1
}

start_broker() { # start_broker iothub|mosquitto: sets BROKER_PID and PORT
	PORT=$(free_port)
	if [ "$1" = iothub ]; then
		IOTHUB_MQTT_MAX_QUEUED_MESSAGES=1000000 IOTHUB_MQTT_MAX_PENDING_WRITES=1000000 \
			IOTHUB_MQTT_SYS_INTERVAL=0 IOTHUB_LOG_LEVEL=warn \
			"$WORK/iothub" serve --mqtt-addr "127.0.0.1:$PORT" --ws-addr 127.0.0.1:0 \
			--api-addr 127.0.0.1:0 --data-dir "$WORK/data" >"$WORK/broker.log" 2>&1 &
	else
		cat >"$WORK/mosquitto.conf" <<-EOF
			listener $PORT 127.0.0.1
			allow_anonymous true
			max_queued_messages 1000000
			max_inflight_messages 32
			persistence false
			sys_interval 0
			log_dest stderr
			log_type error
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

cpu_ticks() { awk '{print $14 + $15}' "/proc/$BROKER_PID/stat"; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$BROKER_PID/status"; }
jget() { grep -o "\"$1\":[-0-9.e+]*" "$2" | head -1 | cut -d: -f2; }

wait_line() { # wait_line FILE TEXT: until FILE has TEXT (60 s)
	for _ in $(seq 600); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
	echo "timed out waiting for '$2' in $1" >&2; cat "$1" >&2; return 1
}

RESULTS="$WORK/results.tsv" # broker row value
record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RESULTS"; }

# throughput BROKER ROW SUBS FILTER QOS PUBS EACH TOPIC: a fixed batch of
# PUBS*EACH messages sent as fast as the broker takes them; rate is
# first-to-last message at the subscribers, CPU is the broker's over the run.
throughput() {
	local b=$1 row=$2 subs=$3 filter=$4 qos=$5 pubs=$6 each=$7 topic=$8
	local want=$((pubs * each * subs))
	$BENCH sub --addr "127.0.0.1:$PORT" --clients "$subs" --topic "$filter" --qos "$qos" \
		--count "$want" --idle 3s --duration 60s --json >"$WORK/sub.json" 2>"$WORK/sub.err" &
	local sub=$!
	wait_line "$WORK/sub.err" "subscribed"
	local c0; c0=$(cpu_ticks)
	$BENCH pub --addr "127.0.0.1:$PORT" --clients "$pubs" --rate 0 --count "$each" --qos "$qos" \
		--topic "$topic" --size 64 --duration 60s --json >"$WORK/pub.json" 2>"$WORK/pub.err"
	wait "$sub"
	local c1; c1=$(cpu_ticks)
	local got rate cpu
	got=$(jget received "$WORK/sub.json"); rate=$(jget rate_per_sec "$WORK/sub.json")
	cpu=$(awk -v a="$c0" -v b="$c1" -v t="$TCK" 'BEGIN {print (b - a) / t}')
	record "$b" "$row msgs/s" "$rate"
	record "$b" "$row msgs/CPU-s" "$(awk -v n="$got" -v c="$cpu" 'BEGIN {print (c > 0) ? n / c : 0}')"
	record "$b" "$row delivered %" "$(awk -v n="$got" -v w="$want" 'BEGIN {print 100 * n / w}')"
}

latency() {
	local b=$1
	$BENCH sub --addr "127.0.0.1:$PORT" --topic 'lat/#' --qos 1 --duration $((LAT_SECS + 15))s --idle 2s \
		--json >"$WORK/sub.json" 2>"$WORK/sub.err" &
	local sub=$!
	wait_line "$WORK/sub.err" "subscribed"
	$BENCH pub --addr "127.0.0.1:$PORT" --clients 20 --total-rate "$LAT_RATE" --qos 1 --topic 'lat/%i' \
		--size 64 --duration "${LAT_SECS}s" --json >"$WORK/pub.json" 2>"$WORK/pub.err"
	wait "$sub"
	record "$b" "latency p50 ms (QoS 1, $LAT_RATE msg/s)" "$(jget p50_ms "$WORK/sub.json")"
	record "$b" "latency p99 ms (QoS 1, $LAT_RATE msg/s)" "$(jget p99_ms "$WORK/sub.json")"
}

idle_conns() {
	local b=$1 r0 r1
	r0=$(rss_kb)
	$BENCH conn --addr "127.0.0.1:$PORT" --count "$CONNS" --hold 6s --ifaddr 127.0.0.2-127.0.0.17 \
		--json >"$WORK/conn.json" 2>"$WORK/conn.err" &
	local conn=$!
	wait_line "$WORK/conn.err" "holding"
	# Idle means idle: the hub parks a connection silent for 1s
	# (mqtt.park_idle_after) and returns the freed stacks within 2s more.
	sleep "${IDLE_SETTLE:-5}"
	r1=$(rss_kb)
	wait "$conn" || true
	local n; n=$(jget connected "$WORK/conn.json")
	record "$b" "connect rate conn/s" "$(jget connect_rate_per_sec "$WORK/conn.json")"
	record "$b" "KiB per idle connection ($n)" "$(awk -v a="$r0" -v b="$r1" -v n="$n" 'BEGIN {print (b - a) / n}')"
}

run_broker() {
	echo "round $round: $1" >&2
	start_broker "$1"
	if [ "${ONLY:-}" = latency ]; then # latency alone, on a fresh process
		latency "$1"
		stop_broker
		return
	fi
	idle_conns "$1" # first, on a fresh process: its memory is not yet grown by traffic
	throughput "$1" "QoS 0 fan-in $FANIN_PUBS→1" 1 'bench/#' 0 "$FANIN_PUBS" "$FANIN_Q0_EACH" 'bench/%i'
	throughput "$1" "QoS 1 fan-in $FANIN_PUBS→1" 1 'bench/#' 1 "$FANIN_PUBS" "$FANIN_Q1_EACH" 'bench/%i'
	throughput "$1" "QoS 0 fan-out 1→$FANOUT_SUBS" "$FANOUT_SUBS" 'fan/out' 0 1 "$FANOUT_MSGS" 'fan/out'
	latency "$1"
	stop_broker
}

for round in $(seq "$ROUNDS"); do
	if [ $((round % 2)) = 1 ]; then order="iothub mosquitto"; else order="mosquitto iothub"; fi
	for b in $order; do run_broker "$b"; done
done

# Median per broker and row, then the ratio iothub / mosquitto.
echo
echo "| measure | iothub | mosquitto | iothub / mosquitto |"
echo "| --- | ---: | ---: | ---: |"
awk -F'\t' '
	{ key = $2; if (!(key in rows)) { rows[key] = ++n; order[n] = key }; v[$1, key, ++c[$1, key]] = $3 }
	function num(x) { return (x + 0 >= 100) ? sprintf("%.0f", x) : sprintf("%.3g", x) }
	function median(b, k,   m, i, j, t, a) {
		m = c[b, k]; for (i = 1; i <= m; i++) a[i] = v[b, k, i]
		for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
		return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
	}
	END {
		for (i = 1; i <= n; i++) {
			k = order[i]; x = median("iothub", k); y = median("mosquitto", k)
			printf "| %s | %s | %s | %s |\n", k, num(x), num(y), (y + 0 != 0) ? sprintf("%.2f", x / y) : "-"
		}
	}' "$RESULTS"
echo
echo "rounds: $ROUNDS; $(nproc) cores; $(uname -r); $("$MOSQUITTO" -h 2>&1 | head -1)"
