# iothub — the two commands a newcomer runs: `make run` and `make test`.
SHELL := /bin/bash
GO ?= go
FUZZTIME ?= 5s

.PHONY: run build test deps vet unit fuzz bench clean

## run: start the hub on the embedded defaults (MQTT :1883, WebSocket :8083).
run:
	$(GO) run ./cmd/iothub serve

## build: build bin/iothub.
build:
	$(GO) build -o bin/iothub ./cmd/iothub

## test: install what the tests need, then vet, fuzz briefly, and run every test with -race
## (the tests last, so that the run ends with go test's own summary).
test: deps vet fuzz unit

deps:
	bash scripts/test-deps.sh

vet:
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 -timeout 15m ./...

## fuzz: run every fuzz target for FUZZTIME (default 5s).
fuzz:
	bash scripts/fuzz.sh $(FUZZTIME)

## bench: hot-path benchmarks with allocations.
bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./mqtt/... ./internal/broker/

clean:
	rm -rf bin
