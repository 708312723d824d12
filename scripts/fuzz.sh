#!/usr/bin/env bash
# Runs every Go fuzz target in the module for a short time (default 5s each).
# The committed seed corpora under */testdata/fuzz/ always run as part of
# `go test`; this adds a brief coverage-guided run on top.
set -euo pipefail
fuzztime="${1:-5s}"
cd "$(dirname "$0")/.."
status=0
while IFS= read -r file; do
	dir="./$(dirname "$file")"
	for target in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)\(' "$file" | sed -E 's/^func (Fuzz[A-Za-z0-9_]+)\(/\1/'); do
		echo "fuzz: $dir $target ($fuzztime)"
		if ! go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" "$dir"; then
			echo "fuzz: $dir $target FAILED"
			status=1
		fi
	done
done < <(grep -rl --include='*_test.go' -E '^func Fuzz' . | sort)
exit $status
