#!/usr/bin/env bash
# Connect rate and memory per connection, cluster off vs on, alternating:
#   - off: one node, no cluster;
#   - on: three nodes (cluster address, seeds, R3 replicated state), the
#     connections all to n2.
# CONNS MQTT 3.1.1 clean-session connections are opened with
# `iothub bench conn` (64 attempts in flight, as fast as the node takes
# them) and held; the memory is the node's VmRSS after the last connection
# (+SETTLE s) minus before the first, divided by CONNS.
#
#   bash scripts/bench-cluster-conn.sh        # ~4 minutes; ROUNDS=2 CONNS=5000
#                  # SETTLE=30: seconds between the last connection and the RSS
#                  # reading (the broker's reclaim returns a burst's memory at
#                  # its end and once more 15 s later: internal/broker/park.go)
#   BASE=<git revision> bash scripts/bench-cluster-conn.sh
#                  # also measures a cluster of BASE's binary in each round
#                  # (before/after on the same machine, alternating)
#   RETAINED=1 bash scripts/bench-cluster-conn.sh
#                  # binaries built with -tags memprof: after the plain RSS
#                  # reading, each node collects its garbage and returns the
#                  # free memory (debug.FreeOSMemory, on SIGUSR2) and the RSS
#                  # is read again ("retained" columns): what a connection
#                  # keeps, without the garbage of the connect burst; and
#                  # where the retained growth is, from the runtime's memory
#                  # classes (live objects, free space in spans that live
#                  # objects pin, stacks, runtime metadata)
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-2}
CONNS=${CONNS:-5000}
WORK=$(mktemp -d /tmp/iothub-cluster-conn.XXXXXX)
BIN="$WORK/iothub"
RETAINED=${RETAINED:-}
TAGS=()
[ -n "$RETAINED" ] && TAGS=(-tags memprof)
go build "${TAGS[@]}" -o "$BIN" ./cmd/iothub
BASE=${BASE:-}
if [ -n "$BASE" ]; then
	mkdir -p "$WORK/base"
	git archive "$BASE" | tar -x -C "$WORK/base"
	(cd "$WORK/base" && go build "${TAGS[@]}" -o "$WORK/iothub-base" ./cmd/iothub)
fi
KEY=ihk_bench_cluster_key_0123456789abcdef
PIDS=()

cleanup() {
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
wait_line() { for _ in $(seq 900); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done; echo "timeout: '$2' in $1" >&2; tail "$1" >&2; return 1; }

declare -A MQTT API NODE_PID CL
# start_node I MODE RUN: node nI (MODE cluster|single) in the background.
start_node() {
	local i=$1 mode=$2 run=$3 args=()
	MQTT[$i]=127.0.0.1:$(port); API[$i]=127.0.0.1:$(port)
	if [ "$mode" = cluster ]; then
		args=(--cluster-addr "${CL[$i]}" --cluster-seeds "${CL[1]},${CL[2]},${CL[3]}")
	fi
	MEMPROF_FREE=$WORK/$run-n$i.free IOTHUB_API_KEY=$KEY "${NODE_BIN:-$BIN}" serve --node-name "n$i" --mqtt-addr "${MQTT[$i]}" --ws-addr 127.0.0.1:0 --api-addr "${API[$i]}" \
		--data-dir "$WORK/$run-n$i" --log-level warn "${args[@]}" >"$WORK/$run-n$i.log" 2>&1 &
	NODE_PID[$i]=$!
	PIDS+=($!)
}

# ready I [cluster]: the node answers, and in a cluster its replicated
# state is ready.
ready() {
	for _ in $(seq 600); do
		local path=/health
		[ "${2:-}" = cluster ] && path=/api/v1/cluster
		body=$(curl -fsS -H "Authorization: Bearer $KEY" "http://${API[$1]}$path" 2>/dev/null || true)
		if [ -n "$body" ] && { [ "${2:-}" != cluster ] || grep -q '"state_ready":true' <<<"$body"; }; then return 0; fi
		sleep 0.2
	done
	echo "node n$1 not ready" >&2
	return 1
}

# free_file I: node I's MEMPROF_FREE file.
free_file() { tr '\0' '\n' <"/proc/${NODE_PID[$1]}/environ" | sed -n 's/^MEMPROF_FREE=//p'; }

# give_back I...: with RETAINED, nodes I... return their garbage to the system
# (SIGUSR2, memprof.go); waits until each has.
give_back() {
	[ -n "$RETAINED" ] || return 0
	local i f n
	for i in "$@"; do
		f=$(free_file "$i")
		n=$(cat "$f" 2>/dev/null || echo 0)
		kill -USR2 "${NODE_PID[$i]}"
		for _ in $(seq 300); do [ "$(cat "$f" 2>/dev/null || echo 0)" != "$n" ] && break; sleep 0.1; done
		cp "$f.mem" "$f.mem$((n + 1))" 2>/dev/null || true
	done
}

# classes LABEL FILE0 FILE1: the growth of the runtime's memory classes
# between two give_backs, per connection (RETAINED).
classes() {
	[ -n "$RETAINED" ] && [ -f "$2" ] && [ -f "$3" ] || return 0
	python3 - "$@" "$CONNS" >>"$WORK/classes.md" <<'PY'
import sys
label, f0, f1, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
read = lambda f: {k: int(v) for k, v in (l.split() for l in open(f) if l.strip())}
a, b = read(f0), read(f1)
d = lambda *names: sum(b.get(k, 0) - a.get(k, 0) for k in names) / n
m = "/memory/classes/"
print("| %s | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f |" % (label, d(m + "heap/objects:bytes"), d(m + "heap/unused:bytes"),
      d(m + "heap/free:bytes"), d(m + "heap/stacks:bytes", m + "os-stacks:bytes"),
      d(*[k for k in b if k.startswith(m + "metadata/") or k.startswith(m + "profiling/")]), d(m + "other:bytes")))
PY
}

# measure LABEL NODE [OTHER]: CONNS connections to node NODE; with OTHER,
# also the RSS growth of node OTHER, which takes no connection (what a
# node pays for the client ids the others hold).
measure() {
	local pid=${NODE_PID[$2]} r0 r1 o0=0 o1=0 f0=0 f1=0 g0=0 g1=0
	sleep 2
	give_back "$2" ${3:+"$3"}
	r0=$(rss_kb "$pid")
	[ -n "${3:-}" ] && o0=$(rss_kb "${NODE_PID[$3]}")
	f0=$r0 g0=$o0
	"$BIN" bench conn --addr "${MQTT[$2]}" --count "$CONNS" --concurrency 64 --hold 60s --json >"$WORK/conn.json" 2>"$WORK/conn.err" &
	local cp=$!
	wait_line "$WORK/conn.err" holding
	sleep "${SETTLE:-30}"
	r1=$(rss_kb "$pid")
	[ -n "${3:-}" ] && o1=$(rss_kb "${NODE_PID[$3]}")
	if [ -n "$RETAINED" ]; then
		give_back "$2" ${3:+"$3"}
		f1=$(rss_kb "$pid")
		[ -n "${3:-}" ] && g1=$(rss_kb "${NODE_PID[$3]}")
		local i
		for i in "$2" ${3:+"$3"}; do
			classes "$1, n$i" "$(free_file "$i").mem1" "$(free_file "$i").mem2"
		done
	fi
	kill "$cp" 2>/dev/null || true
	wait "$cp" 2>/dev/null || true
	python3 - "$1" "$WORK/conn.json" "$CONNS" "$r0" "$r1" "$o0" "$o1" "$f0" "$f1" "$g0" "$g1" <<'PY'
import json, sys
label, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
r0, r1, o0, o1, f0, f1, g0, g1 = (int(a) for a in sys.argv[4:12])
d = json.load(open(path)) if open(path).read().strip() else {}
per = lambda a, b: "%.2f" % ((b - a) / n) if b else "-"
print("| %s | %d | %d | %.0f | %.1f | %.2f | %s | %s | %s |" % (label, d.get("connected", 0), d.get("failed", 0),
      d.get("connect_rate_per_sec", 0), r1 / 1024, (r1 - r0) / n, per(o0, o1), per(f0, f1), per(g0, g1)))
PY
}

stop_all() {
	for i in "$@"; do kill "${NODE_PID[$i]}" 2>/dev/null || true; wait "${NODE_PID[$i]}" 2>/dev/null || true; done
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {print int($2/1024/1024)}' /proc/meminfo) GiB; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| $CONNS clean 3.1.1 connections | connected | failed | connects/s | node RSS after, MiB | KiB per connection | n3 (no connections), KiB per connection | retained, KiB per connection | n3 retained, KiB per connection |"
echo "|---|---|---|---|---|---|---|---|---|"
for r in $(seq "$ROUNDS"); do
	start_node 1 single "r$r-single"
	ready 1
	measure "cluster off (single node), round $r" 1
	stop_all 1

	for bin in ${BASE:+base} new; do
		NODE_BIN=$BIN label="cluster on (3 nodes, to n2), round $r"
		if [ "$bin" = base ]; then NODE_BIN=$WORK/iothub-base label="cluster on, $BASE, round $r"; fi
		for i in 1 2 3; do CL[$i]=127.0.0.1:$(port); done
		for i in 1 2 3; do start_node "$i" cluster "r$r-cluster-$bin"; done
		for i in 1 2 3; do ready "$i" cluster; done
		measure "$label" 2 3
		stop_all 1 2 3
		NODE_BIN=
	done
done
if [ -f "$WORK/classes.md" ]; then
	echo
	echo "| retained growth, bytes per connection (runtime memory classes) | live objects | free in spans in use | free, not returned | stacks | runtime metadata | other |"
	echo "|---|---|---|---|---|---|---|"
	cat "$WORK/classes.md"
fi
echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
