# Shopflow: the two commands a newcomer needs are `make up` and `make test`.
SHELL := /bin/bash
GO    ?= go
# -race: this is concurrent code first of all; the detector costs about a minute here.
GOTEST_FLAGS ?= -race -count=1 -timeout 45m

.PHONY: up down status logs clean test unit bench chaos build vet fmt infra fuzz catalog

up: ## install and start Postgres, Kafka, Elasticsearch, Jaeger and shopflow; wait until healthy
	@scripts/stack.sh up

down: ## stop everything `make up` started
	@scripts/stack.sh down

status: ## health of each component
	@scripts/stack.sh status

logs: ## where the logs are, and their last lines
	@scripts/stack.sh logs

clean: down ## stop everything and wipe all local state (data, logs, built jars)
	@scripts/postgres.sh destroy >/dev/null
	rm -rf .shopflow .shopflow-chaos bin dev-tools/*/target

infra: ## start only the servers the tests need
	@scripts/stack.sh infra

# Calls of each fuzz target in `make test`, from its seed corpus only (scripts/fuzz.sh says why
# a count and not a duration); the seed corpus also runs with the tests anyway.
FUZZ_SMOKE ?= 2000x
# How long `make fuzz` runs each fuzz target.
FUZZTIME ?= 10m

test: ## every test, unit and integration, against the real servers (started if needed); a short fuzz run
	@SHOPFLOW_REQUIRE_SERVERS=true scripts/stack.sh run $(GO) test $(GOTEST_FLAGS) ./...
	@SHOPFLOW_REQUIRE_SERVERS=true scripts/stack.sh run scripts/fuzz.sh --fresh-cache $(FUZZ_SMOKE)

fuzz: ## every Go fuzz target for FUZZTIME (10m) each, against the real servers
	@SHOPFLOW_REQUIRE_SERVERS=true scripts/stack.sh run scripts/fuzz.sh $(FUZZTIME)

unit: ## tests that need no server (integration tests skip when servers are down)
	$(GO) test -count=1 -short ./...

bench: ## benchmarks with a raw baseline measured in the same run
	@scripts/stack.sh run $(GO) run ./cmd/shopflow-bench $(BENCH_FLAGS)

chaos: ## fault suite on a scratch stack of its own: load, faults, then invariants checked from the stores
	@$(GO) run ./cmd/shopflow-chaos $(CHAOS_FLAGS)

catalog: ## regenerate the event catalog (docs/events) from the Go event types; refuses an incompatible change
	$(GO) run ./cmd/shopflow-catalog

build:
	$(GO) build -o bin/shopflow ./cmd/shopflow

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
