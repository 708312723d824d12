# iothub — the two commands a newcomer runs: `make run` and `make test`.
SHELL := /bin/bash
GO ?= go
FUZZTIME ?= 5s

.PHONY: run build test deps vet lint unit fuzz bench clean demo-doorlock demo-vehicles demo-remote

## run: start the hub on the embedded defaults (MQTT :1883, WebSocket :8083).
run:
	$(GO) run ./cmd/iothub serve

## build: build bin/iothub.
build:
	$(GO) build -o bin/iothub ./cmd/iothub

## test: install what the tests need, then vet, lint, fuzz briefly, and run every test with
## -race (the tests last, so that the run ends with go test's own summary).
test: deps vet lint fuzz unit

deps:
	bash scripts/test-deps.sh

vet:
	$(GO) vet ./...

## lint: golangci-lint with .golangci.yml, at the version pinned in tools/go.mod.
lint: bin/golangci-lint
	bin/golangci-lint run --allow-parallel-runners ./...

bin/golangci-lint: tools/go.mod tools/go.sum
	cd tools && $(GO) build -o ../bin/golangci-lint github.com/golangci/golangci-lint/v2/cmd/golangci-lint

## unit: every test with -race; -parallel 4 because the integration tests mostly wait on the processes they drive.
unit:
	$(GO) test -race -count=1 -parallel 4 -timeout 15m ./...

## fuzz: run every fuzz target for FUZZTIME (default 5s).
fuzz:
	bash scripts/fuzz.sh $(FUZZTIME)

## bench: hot-path benchmarks with allocations.
bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./mqtt/... ./internal/broker/

## demo-doorlock: the door-lock system end to end, with kfake as Kafka (examples/doorlock/README.md).
demo-doorlock:
	$(GO) build -o bin/doorlock/ ./cmd/iothub ./examples/doorlock/...
	bin/doorlock/doorlock

## demo-vehicles: 1,000 vehicles → Kafka → a fleet service, commands back; sync and async producers compared (examples/vehicles/README.md).
demo-vehicles:
	$(GO) build -o bin/vehicles/ ./cmd/iothub ./examples/vehicles/...
	bin/vehicles/vehicles --vehicles 1000 --duration 30s

## demo-remote: 19,000 devices on MQTT over WebSocket, commands through the API: acked latency and memory per connection
## (examples/remote/README.md). NODES=3: a three-node cluster behind HAProxy, the API called on a node that does not hold the device.
NODES ?= 1
demo-remote:
	$(GO) build -o bin/remote/ ./cmd/iothub ./examples/remote/...
	bin/remote/remote --devices 19000 --rate 100 --duration 30s --nodes $(NODES)

clean:
	rm -rf bin
