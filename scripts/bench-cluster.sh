#!/usr/bin/env bash
# Measures a three-node cluster on one machine (loopback only) with
# `iothub bench`, and prints the figures of docs/cluster.md:
#   - QoS 1 at 5,000 msg/s (100 publishers x 50 msg/s) to one subscriber:
#     p50/p99 latency with publisher and subscriber on the same node, then
#     on different nodes, and with the cluster off (a single node);
#   - fan-in: 100 publishers on each of the three nodes, as fast as the
#     nodes take them, into one subscriber: received msg/s and the CPU of
#     all three nodes per message;
#   - memory per idle connection on a cluster node (scripts/bench-cluster-conn.sh
#     compares it, and the connect rate, with a single node);
#   - after kill -9 of a node: time until its persistent session can be
#     resumed (with its subscription) on another node.
#
#   bash scripts/bench-cluster.sh          # ~3 minutes
#   ROWS=latency ROUNDS=3 bash scripts/bench-cluster.sh
#                                          # latency rows only, the
#                                          # same-node and cross-node rows
#                                          # alternated 3 times
#
# ROWS is a comma-separated subset of latency,fanin,memory,failover (all by
# default); ROUNDS (1) repeats the two cluster latency rows, alternating,
# so that a change in the machine's load hits both alike. BIN=path
# measures a binary built elsewhere (a throwaway instrumented build).
# Node CPU is utime+stime of the PIDs (/proc/PID/stat); memory the VmRSS
# delta 5 s after the last connection. The load generators share the
# machine with the nodes.
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=${SECS:-10}
CONNS=${CONNS:-5000}
ROWS=${ROWS:-latency,fanin,memory,failover}
ROUNDS=${ROUNDS:-1}
WORK=$(mktemp -d /tmp/iothub-cluster-bench.XXXXXX)
if [ -z "${BIN:-}" ]; then
	BIN="$WORK/iothub"
	go build -o "$BIN" ./cmd/iothub
fi
row() { [[ ",$ROWS," == *",$1,"* ]]; }
BENCH="$BIN bench"
TCK=$(getconf CLK_TCK)
KEY=ihk_bench_cluster_key_0123456789abcdef
PIDS=()

cleanup() {
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
jget() { grep -o "\"$1\":[-0-9.e+]*" "$2" | head -1 | cut -d: -f2; }
cpu_ticks() { local t=0; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
wait_line() { for _ in $(seq 900); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done; echo "timeout: '$2' in $1" >&2; tail "$1" >&2; return 1; }

declare -A MQTT API
SEEDS=""
CL=()
for i in 1 2 3; do CL[$i]=127.0.0.1:$(port); SEEDS+="${SEEDS:+,}${CL[$i]}"; done

# start_node I [cluster|single]: node nI in the background (NODE_PID[I]).
declare -A NODE_PID
start_node() {
	local i=$1 mode=${2:-cluster} args=()
	MQTT[$i]=127.0.0.1:$(port); API[$i]=127.0.0.1:$(port)
	[ "$mode" = cluster ] && args=(--cluster-addr "${CL[$i]}" --cluster-seeds "$SEEDS")
	IOTHUB_API_KEY=$KEY "$BIN" serve --node-name "n$i" --mqtt-addr "${MQTT[$i]}" --ws-addr 127.0.0.1:0 --api-addr "${API[$i]}" \
		--data-dir "$WORK/n$i-$mode" --log-level warn "${args[@]}" >"$WORK/n$i.log" 2>&1 &
	NODE_PID[$i]=$!
	PIDS+=($!)
}

wait_cluster() {
	for i in "$@"; do
		for _ in $(seq 600); do
			curl -fsS -H "Authorization: Bearer $KEY" "http://${API[$i]}/api/v1/cluster" 2>/dev/null | grep -q '"healthy":true' && break
			sleep 0.2
		done
	done
	sleep 2 # the replicated state's buckets (created once the meta leader is up)
}

# latency ROW PUB_NODE SUB_NODE: 5,000 msg/s QoS 1 to one subscriber.
latency() {
	$BENCH sub --addr "${MQTT[$3]}" --topic 'devices/+/state' --qos 1 --duration 60s --idle 3s --json >"$WORK/sub.json" 2>"$WORK/sub.err" &
	local sp=$!
	wait_line "$WORK/sub.err" subscribed
	sleep 1 # interest reaches the other nodes
	local c0 c1 n
	c0=$(cpu_ticks "${NODE_PID[@]}")
	$BENCH pub --addr "${MQTT[$2]}" --clients 100 --total-rate 5000 --qos 1 --topic 'devices/%i/state' --size 64 \
		--duration "${SECS}s" --json >"$WORK/pub.json" 2>"$WORK/pub.err"
	wait "$sp" || true
	c1=$(cpu_ticks "${NODE_PID[@]}")
	n=$(jget received "$WORK/sub.json")
	printf '| %s | %s | %s | %s | %s | %s |\n' "$1" "$(jget acked "$WORK/pub.json")" "$n" \
		"$(jget p50_ms "$WORK/sub.json")" "$(jget p99_ms "$WORK/sub.json")" \
		"$(awk -v a="$c0" -v b="$c1" -v t="$TCK" -v n="$n" 'BEGIN {printf "%.0f", (n>0)?(b-a)*1e6/t/n:0}')"
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {print int($2/1024/1024)}' /proc/meminfo) GiB; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
if row latency; then
	echo
	echo "| QoS 1, 5,000 msg/s, 100 publishers -> 1 subscriber | PUBACKed | received | p50 ms | p99 ms | node CPU µs/msg |"
	echo "|---|---|---|---|---|---|"
	start_node 1 single
	sleep 2
	latency "single node (no cluster)" 1 1
	kill "${NODE_PID[1]}"; wait "${NODE_PID[1]}" 2>/dev/null || true
	unset 'NODE_PID[1]'
fi

for i in 1 2 3; do start_node "$i"; done
wait_cluster 1 2 3
if row latency; then
	for _ in $(seq "$ROUNDS"); do
		latency "cluster, same node" 1 1
		latency "cluster, publisher on n1, subscriber on n2" 1 2
	done
	echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
fi
if row fanin; then
	echo
	$BENCH sub --addr "${MQTT[1]}" --topic 'fanin/#' --qos 1 --duration 120s --idle 3s --json >"$WORK/sub.json" 2>"$WORK/sub.err" &
	sp=$!
	wait_line "$WORK/sub.err" subscribed
	sleep 1
	c0=$(cpu_ticks "${NODE_PID[1]}" "${NODE_PID[2]}" "${NODE_PID[3]}")
	pp=()
	for i in 1 2 3; do
		# Client ids differ per node: one client id is one session cluster-wide
		# (the same ids on three nodes would take each other's sessions over).
		$BENCH pub --addr "${MQTT[$i]}" --prefix "fanin$i-" --clients 100 --rate 0 --inflight 10 --qos 1 --topic "fanin/$i/%i" --size 64 \
			--duration "${SECS}s" --json >"$WORK/pub$i.json" 2>"$WORK/pub$i.err" &
		pp+=($!)
	done
	for p in "${pp[@]}"; do wait "$p" || true; done
	wait "$sp" || true
	c1=$(cpu_ticks "${NODE_PID[1]}" "${NODE_PID[2]}" "${NODE_PID[3]}")
	got=$(jget received "$WORK/sub.json")
	echo "fan-in QoS 1, 3 x 100 publishers (one group per node) -> 1 subscriber on n1:"
	echo "  received $got in ${SECS}s+ = $(jget rate_per_sec "$WORK/sub.json") msg/s; p99 $(jget p99_ms "$WORK/sub.json") ms"
	awk -v a="$c0" -v b="$c1" -v t="$TCK" -v n="$got" 'BEGIN {cpu=(b-a)/t; printf "  CPU of the three nodes: %.1f s = %.1f µs per message\n", cpu, (n>0)?cpu*1e6/n:0}'
fi

if row memory; then
	echo
	r0=$(rss_kb "${NODE_PID[2]}")
	$BENCH conn --addr "${MQTT[2]}" --count "$CONNS" --concurrency 64 --keepalive 300s --hold 40s --json >"$WORK/conn.json" 2>"$WORK/conn.err" &
	cp=$!
	wait_line "$WORK/conn.err" holding
	sleep 5
	r1=$(rss_kb "${NODE_PID[2]}")
	kill "$cp" 2>/dev/null || true; wait "$cp" 2>/dev/null || true
	awk -v a="$r0" -v b="$r1" -v n="$CONNS" 'BEGIN {printf "memory per idle connection on a cluster node: %.2f KiB (%d connections)\n", (b-a)/n, n}'
fi

if row failover; then
	echo
	# Failover: a persistent session on n3, n3 killed, the client comes back
	# through n1 until its session (and subscription) is found.
	"$BIN" bench sub --addr "${MQTT[3]}" --clients 1 --prefix failover- --topic 'failover/#' --qos 1 --duration 2s >/dev/null 2>&1 || true
	python3 - "$BIN" "${MQTT[3]}" "${MQTT[1]}" "${NODE_PID[3]}" <<'PY'
import socket, struct, subprocess, sys, time, os, signal
binary, n3, n1, pid = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
def connect(addr, cid):
    h, p = addr.split(':'); s = socket.create_connection((h, int(p)), timeout=20)
    payload = b'\x00\x04MQTT\x04\x00\x00\x3c' + struct.pack('>H', len(cid)) + cid.encode()  # 3.1.1, clean session 0
    s.sendall(b'\x10' + bytes([len(payload)]) + payload)
    ack = s.recv(4); return s, ack
s, ack = connect(n3, 'failover-dev')
sub = b'\x00\x01' + struct.pack('>H', 6) + b'fail/x' + b'\x01'
s.sendall(b'\x82' + bytes([len(sub)]) + sub); s.recv(5)
time.sleep(2)  # the session record (with its subscription) is replicated
os.kill(pid, signal.SIGKILL); t0 = time.time()
while True:
    try:
        c, ack = connect(n1, 'failover-dev')
        if len(ack) == 4 and ack[3] == 0 and ack[2] & 1:
            print("killed node's session resumable on another node after %.1f s (session present)" % (time.time() - t0)); break
        c.close()
    except OSError:
        pass
    if time.time() - t0 > 60: print("session not resumable within 60 s"); break
    time.sleep(0.1)
PY
fi
