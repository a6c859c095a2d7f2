# salvo — make targets. `make demo` shows salvo working; `make test` is what CI runs.
GO       ?= go
BIN      ?= bin/salvo
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION) -X main.commit=$(shell git rev-parse HEAD 2>/dev/null) -X main.date=$(shell date -u +%Y-%m-%dT%H:%M:%SZ)
# Count-based: a duration races a deadline in Go 1.26's fuzz coordinator
# (go.dev/issue/75804) and fails with "context deadline exceeded".
FUZZTIME ?= 20000x
export PATH := $(PATH):$(shell $(GO) env GOPATH)/bin
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# helm is no Debian package here: its Go module, built once into the build cache.
HELM := helm.sh/helm/v4/cmd/helm@v4.3.2

.PHONY: build build-static image certs e2e-docker test unit fuzz lint bench bench-clush sizing sizing-doc demo cluster cluster-stop cluster-ha cluster-ha-stop clean proto

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/salvo

# The static binary of the image (modernc's SQLite is pure Go: no cgo).
STATIC_BIN ?= bin/salvo-static
build-static:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS) -s -w -extldflags -static" -o $(STATIC_BIN) ./cmd/salvo

# The container image, FROM scratch (deploy/docker/Dockerfile): no registry
# needed. Tagged $(IMAGE):$(VERSION) and $(IMAGE):latest, which the compose
# files of deploy/compose run (SALVO_IMAGE to choose another).
IMAGE ?= salvo
image: build-static
	./scripts/image.sh $(STATIC_BIN) $(IMAGE):$(VERSION) $(IMAGE):latest

# The compose files' CA, node certificates, gossip key and shared
# secret.key, in $(CERTS_DIR) (never committed); SALVO_NET is the compose
# network's first three bytes. Kept when complete: FORCE=1 makes new ones.
CERTS_DIR ?= deploy/certs
SALVO_NET ?= 172.30.18
certs:
	$(GO) run ./scripts/gencerts --dir $(CERTS_DIR) --net $(SALVO_NET) $(if $(FORCE),--force)

# The long run of the Docker test: ha.yml with a 20,000-target job
# (internal/e2e/docker_test.go); `make test` runs its short variant.
e2e-docker:
	SALVO_E2E_DOCKER_LONG=1 $(GO) test -count=1 -timeout 20m -run '^TestDocker' -v ./internal/e2e/

# The README's test command: vet, every test with the race detector, and a
# short run of every fuzz target. The end-to-end package is the longest, about
# 9 of the run's 13 minutes on the 2-core development machine; the timeout
# leaves a slower machine room, not the suite more time.
test: build
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 18m ./...
	$(MAKE) fuzz

unit:
	$(GO) test -race -count=1 -short ./...

fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzTemplate$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=2s ./job/
	$(GO) test -run='^$$' -fuzz='^FuzzParseTarget$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=2s ./job/
	$(GO) test -run='^$$' -fuzz='^FuzzDecodeSpec$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=2s ./commands/
	$(GO) test -run='^$$' -fuzz='^FuzzDecodeSpecStream$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=2s ./job/
	$(GO) test -run='^$$' -fuzz='^FuzzDecodeIndexedTargets$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=2s ./job/
	$(GO) test -run='^$$' -fuzz='^FuzzNodesetRoundTrip$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=2s ./nodeset/

lint:
	@test -z "$$(gofmt -l .)" || (echo "gofmt needed:"; gofmt -l .; exit 1)
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	$(GO) mod tidy -diff
	./scripts/check-deps.sh
	./deploy/systemd/verify.sh
	$(GO) run $(HELM) lint deploy/helm/salvo
	$(GO) run $(HELM) template salvo deploy/helm/salvo >/dev/null

# Long benchmarks, never run by CI.
bench: build
	$(GO) test -run='^$$' -bench=. -benchtime=3x ./store/
	$(BIN) bench --targets 10000,100000,1000000
	$(BIN) bench --targets 50000 --target-server nginx --cluster-workers 0 --xargs-targets 0 --throttle-targets 0
	$(BIN) bench --ssh
	$(BIN) bench --targets 100000 --ha --cluster-workers 0 --xargs-targets 0 --throttle-targets 0
	$(BIN) bench --sizing   # the table only; make sizing writes docs/sizing.json and docs/sizing.md

# docs/sizing.md from measured figures (scripts/sizing.sh): sizing measures
# them again into docs/sizing.json (about 3 minutes), sizing-doc only renders
# the doc from it. Never run by CI.
sizing: build
	SALVO=$(BIN) ./scripts/sizing.sh

sizing-doc: build
	SALVO=$(BIN) ./scripts/sizing.sh --doc-only

# salvo, clush and parallel-ssh side by side on 50 hosts of a real sshd
# (docs/benchmarks.md); never run by CI.
bench-clush: build
	SALVO=$(BIN) ./scripts/bench-clush.sh

demo: build
	./scripts/demo.sh

# One master and three workers on loopback ports, in the background.
cluster: build
	./scripts/cluster.sh

cluster-stop:
	./scripts/cluster.sh stop

# Three masters in a Raft group and two workers on loopback, in the
# background (docs/ha.md).
cluster-ha: build
	./scripts/cluster-ha.sh

cluster-ha-stop:
	./scripts/cluster-ha.sh stop

clean:
	rm -rf bin

# Regenerate the wire messages (protoc from Debian's protobuf-compiler,
# protoc-gen-go from the module proxy); the generated code is committed.
PROTOACTOR_DIR = $(shell $(GO) list -m -f '{{.Dir}}' github.com/asynkron/protoactor-go)
proto:
	$(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
	protoc -I actors/wire -I $(PROTOACTOR_DIR)/actor --go_out=. --go_opt=module=github.com/salvo-sh/salvo \
		--go_opt=Mactor.proto=github.com/asynkron/protoactor-go/actor actors/wire/wire.proto
