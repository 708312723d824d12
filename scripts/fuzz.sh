#!/usr/bin/env bash
# Runs every Go fuzz target in the module for a short time (default 5s each).
# The committed seed corpora under */testdata/fuzz/ always run as part of
# `go test`; this adds a brief coverage-guided run on top.
set -uo pipefail
fuzztime="${1:-5s}"
cd "$(dirname "$0")/.."
status=0
while IFS= read -r file; do
	dir="./$(dirname "$file")"
	for target in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)\(' "$file" | sed -E 's/^func (Fuzz[A-Za-z0-9_]+)\(/\1/'); do
		echo "fuzz: $dir $target ($fuzztime)"
		log="$(mktemp)"
		if go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" -fuzzminimizetime=1s "$dir" 2>&1 | tee "$log"; then
			:
		elif grep -q 'Failing input written to' "$log" || ! grep -q 'context deadline exceeded' "$log"; then
			echo "fuzz: $dir $target FAILED"
			status=1
		else
			# Go's fuzzer can report its own time budget running out while it
			# minimises a new input as "context deadline exceeded"; no input
			# failed, so this is not a finding.
			echo "fuzz: $dir $target: time ran out while minimising (no failing input)"
		fi
		rm -f "$log"
	done
done < <(grep -rl --include='*_test.go' -E '^func Fuzz' . | sort)
exit $status
