# ipsecgw — build, test, demo and benchmark targets.
# Every target that needs system packages runs scripts/install-deps.sh first
# (idempotent: it installs only what is missing).
GO       ?= go
BIN      := bin
PKGS     := ./...
STATICCHECK_VERSION ?= v0.8.2

.PHONY: all build test test-race test-unit test-interop demo bench bench-micro bench-e2e lint deps clean-lab fuzz

all: build

deps:
	@scripts/install-deps.sh

build:
	$(GO) build -o $(BIN)/ ./cmd/...

# The full suite: unit, fuzz seed corpora, store crash tests and the interop
# tests against real strongSwan in network namespaces (root required). A
# failed package under test/ (external daemons) is retried once, alone:
# see scripts/test.sh.
test: deps clean-lab
	$(GO) vet $(PKGS)
	scripts/test.sh
	@$(MAKE) --no-print-directory clean-lab

# Race detector: unit tests, then the e2e suite against -race daemons.
test-race: deps
	scripts/test-race.sh

# Unit tests only (no root, no namespaces).
test-unit:
	$(GO) test -count=1 -short $(PKGS)

demo: deps build
	scripts/demo.sh

bench: deps build
	scripts/bench.sh

bench-micro:
	$(GO) test -run '^$$' -bench . -benchmem ./esp/... ./ike/...

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet $(PKGS)
	-$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) $(PKGS)

fuzz:
	scripts/fuzz.sh

# Remove namespaces and processes a crashed or killed test run left behind
# (every test bed's namespaces start with "ig").
clean-lab:
	@scripts/clean-lab.sh
