# Hookline: run `make` for the list of targets.
SHELL := /usr/bin/env bash
.DEFAULT_GOAL := help

MODULES   := schemas platform producer router dispatcher hookctl e2e deploy bench
PRESENT   := $(foreach m,$(MODULES),$(if $(wildcard $(m)/go.mod),$(m)))
BINARIES  := producer router dispatcher hookctl
FUZZTIME  ?= 10s
TESTFLAGS ?= -count=1 -timeout 20m
KAFKA_PORT ?= 9092
STATICCHECK_VERSION := v0.8.2

.PHONY: help build test test-faults bench lint fuzz kafka-up kafka-down clean deps-sync

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  %-12s %s\n", $$1, $$2}'

build: ## build every binary into bin/
	@mkdir -p bin
	@for b in $(BINARIES); do \
		if [ -d $$b/cmd/$$b ]; then (cd $$b && go build -o ../bin/$$b ./cmd/$$b) || exit 1; echo "bin/$$b"; fi; \
	done

test: ## run every module's tests (set KAFKA_BROKERS to use a real broker)
	@echo "broker: $${KAFKA_BROKERS:-none set: in-process kfake (or a container where Docker answers)}"
	@fail=0; for m in $(PRESENT); do \
		echo "== $$m"; (cd $$m && go test $(TESTFLAGS) ./...) || fail=1; \
	done; exit $$fail

test-faults: ## fault suite on a real Kafka it starts itself (HOOKLINE_FAULTS=quick: the subset); table in bin/faults-*.md
	@./scripts/test-faults.sh

bench: ## benchmarks of issues 11 and 18 on a real Kafka it starts itself (BENCH_SCALE, BENCH_KAFKA_PORT, BENCH_ONLY); writes bench/results and BENCHMARKS.md
	@go run ./bench/cmd/bench $(BENCHFLAGS)

lint: ## gofmt, go vet, staticcheck, dependency drift, and the deployment checks (compose, alerts, dashboard, config reference, kubernetes)
	@out=$$(gofmt -l $(PRESENT)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@for m in $(PRESENT); do (cd $$m && go vet ./...) || exit 1; done
	@for m in $(PRESENT); do (cd $$m && GOWORK=off go build ./...) || { echo "$$m does not build with GOWORK=off"; exit 1; }; done
	@./scripts/check-deps.sh
	@if command -v staticcheck >/dev/null || go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) 2>/dev/null; then \
		sc=$$(command -v staticcheck || echo $$(go env GOPATH)/bin/staticcheck); \
		for m in $(PRESENT); do (cd $$m && $$sc ./...) || exit 1; done; echo "staticcheck: clean"; \
	else echo "staticcheck: could not be installed; skipped"; fi
	@echo "deploy: docker-compose.yml (compose-spec), alert rules and dashboard (Prometheus parsers), their metrics scraped from hookctl dev, docs/configuration.md drift"
	@cd deploy && go test -count=1 ./...
	@./deploy/kubernetes/check.sh

fuzz: ## run each fuzz target for FUZZTIME (default 10s)
	@./scripts/fuzz.sh $(FUZZTIME) $(PRESENT)

deps-sync: ## align dependency versions across modules (go work sync)
	go work sync

kafka-up: ## start a local Apache Kafka (jars from Maven Central) on 127.0.0.1:$(KAFKA_PORT)
	@KAFKA_PORT=$(KAFKA_PORT) ./deploy/kafka-local/kafka-up.sh

kafka-down: ## stop the local Kafka and remove its data
	@KAFKA_PORT=$(KAFKA_PORT) ./deploy/kafka-local/kafka-down.sh

clean: ## remove build outputs and test caches
	rm -rf bin
	go clean -testcache
