#!/usr/bin/env bash
# Offline backlog figures (docs/benchmarks.md, "Offline backlog on disk"):
# one persistent subscriber (mosquitto_sub -c) goes offline, N QoS 1
# messages of SIZE bytes are published to it (iothub bench pub, 10 clients),
# and the script reports the hub's RSS before and after, the restart's
# recovery time and RSS, and the rate at which the subscriber, resuming,
# receives the backlog.
#
#   N=1000000 SIZE=200 BIN=./iothub bash scripts/bench-backlog.sh
#
# The queue limits are raised so that a hub that keeps offline queues in
# memory (max_backlog_bytes 0, or a build before it) holds them too:
# max_queued_messages N, max_queued_bytes 0. Needs mosquitto_sub.
set -euo pipefail
BIN=${BIN:-iothub}
N=${N:-1000000}
SIZE=${SIZE:-200}
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
port=$((20000 + RANDOM % 20000))
api=$((port + 1))
export IOTHUB_MQTT_MAX_QUEUED_MESSAGES=$N IOTHUB_MQTT_MAX_QUEUED_BYTES=0

start() {
	"$BIN" serve --mqtt-addr "127.0.0.1:$port" --ws-addr 127.0.0.1:0 --api-addr "127.0.0.1:$api" \
		--data-dir "$work/data" >"$work/log" 2>&1 &
	pid=$!
	for _ in $(seq 600); do
		grep -q 'msg="iothub started"' "$work/log" && return
		sleep 0.1
	done
	echo "the hub did not start" >&2
	cat "$work/log" >&2
	exit 1
}
rss() { awk '/^VmRSS/ {printf "%.0f MiB", $2/1024}' "/proc/$pid/status"; }
stop() { kill -TERM "$pid"; wait "$pid" || true; }

start
mosquitto_sub -p "$port" -c -i backlog-lock -q 1 -t cmd/backlog-lock -W 1 >/dev/null 2>&1 || true
echo "fresh hub: RSS $(rss)"
t0=$(date +%s.%N)
"$BIN" bench pub --addr "127.0.0.1:$port" --clients 10 --count $((N / 10)) --qos 1 --rate 0 --inflight 100 \
	--size "$SIZE" --topic cmd/backlog-lock --duration 1800s >/dev/null
t1=$(date +%s.%N)
echo "$N messages of $SIZE B queued for the offline session in $(echo "$t1 - $t0" | bc) s: RSS $(rss)"
curl -s "http://127.0.0.1:$api/metrics" | grep -E '^iothub_(queued_messages|queued_on_disk_messages|messages_dropped_total)' | grep -v ' 0$' || true
stop
start
grep -o 'msg="store recovered".*' "$work/log"
echo "after the restart: RSS $(rss)"
t0=$(date +%s.%N)
mosquitto_sub -p "$port" -c -i backlog-lock -q 1 -t cmd/backlog-lock -C "$N" -W 1800 >/dev/null
t1=$(date +%s.%N)
echo "backlog delivered to the resuming subscriber: $N in $(echo "$t1 - $t0" | bc) s, $(echo "$N / ($t1 - $t0)" | bc) msg/s; RSS $(rss)"
stop
