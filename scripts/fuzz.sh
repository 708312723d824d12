#!/usr/bin/env bash
# Runs every Go fuzz target in the module for a short time (default 5s each).
# The committed seed corpora under */testdata/fuzz/ always run as part of
# `go test`; this adds a brief coverage-guided run on top. Two targets run
# at a time, each with one fuzzing worker (FUZZJOBS sets how many at once):
# the same fuzzing work as one target with two workers, in half the time.
set -uo pipefail
fuzztime="${1:-5s}"
jobs="${FUZZJOBS:-2}"
cd "$(dirname "$0")/.."
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT

# run_target DIR TARGET: one target; its output goes to a log, and the
# verdict (ok, FAILED or the tolerated deadline) to stdout with it.
run_target() {
	local dir="$1" target="$2" log
	log="$logs/$(echo "$dir" | tr '/.' '__')_$target.log"
	if go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" -fuzzminimizetime=1s -parallel 1 "$dir" >"$log" 2>&1; then
		verdict="ok"
	elif grep -q 'Failing input written to' "$log" || ! grep -q 'context deadline exceeded' "$log"; then
		verdict="FAILED"
	else
		# Go's fuzzer can report its own time budget running out while it
		# minimises a new input as "context deadline exceeded"; no input
		# failed, so this is not a finding.
		verdict="time ran out while minimising (no failing input)"
	fi
	{ echo "fuzz: $dir $target ($fuzztime): $verdict"; if [ "$verdict" = FAILED ]; then cat "$log"; fi; } >"$log.out"
	cat "$log.out"
	[ "$verdict" != FAILED ]
}
export -f run_target
export fuzztime logs


mapfile -t files < <(grep -rl --include='*_test.go' -E '^func Fuzz' . | sort)
status=0
for file in "${files[@]}"; do
	dir="./$(dirname "$file")"
	for target in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)\(' "$file" | sed -E 's/^func (Fuzz[A-Za-z0-9_]+)\(/\1/'); do
		echo "$dir $target"
	done
done | xargs -P "$jobs" -L 1 bash -c 'run_target "$0" "$1"' || status=1
exit $status
