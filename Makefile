CARGO ?= cargo
# Extra arguments for `relay all`, e.g. make run RUN_ARGS="--http-listen 127.0.0.1:8081"
RUN_ARGS ?=
# Repository URL for the image's org.opencontainers.image.source label, e.g. make image IMAGE_SOURCE=https://...
IMAGE_SOURCE ?=

.DEFAULT_GOAL := help
.PHONY: help deps runtime-deps build run image test fmt lint bench bench-cluster

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-13s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

deps: ## Install everything the build, the server and the tests need (apt, npm)
	bash scripts/ensure-deps.sh

runtime-deps: ## Install only what the server needs (hls.js for the player page)
	bash scripts/ensure-deps.sh --runtime

build: runtime-deps ## Build the server (release)
	$(CARGO) build --release -p server

run: runtime-deps ## Run everything in one process: RTMP ingest, LL-HLS origin, API, player
	$(CARGO) run --release -p server --bin relay -- all $(RUN_ARGS)

# hls.js (web/node_modules, from runtime-deps) is compiled into the binary, so the image needs no web/.
image: runtime-deps ## Container image (OCI archive in target/image/) with buildah; no daemon, no registry
	$(CARGO) build --release -p server --bin relay
	IMAGE_SOURCE="$(IMAGE_SOURCE)" bash scripts/image.sh --binary "$${CARGO_TARGET_DIR:-target}/release/relay"

# A clean build gains nothing from incremental caches; they only cost disk.
test: export CARGO_INCREMENTAL ?= 0
test: deps ## fmt check, clippy -D warnings, the whole test suite (incl. end-to-end)
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	bash tests/deploy/run.sh
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		echo "$(CARGO) nextest run --workspace --no-fail-fast"; \
		$(CARGO) nextest run --workspace --no-fail-fast; \
	else \
		echo "$(CARGO) test --workspace --no-fail-fast (cargo-nextest not installed)"; \
		$(CARGO) test --workspace --no-fail-fast; \
	fi

fmt: ## Format all Rust code
	$(CARGO) fmt --all

lint: ## fmt check and clippy with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

bench: deps ## Benchmarks against local reference servers (scripts/bench.sh)
	bash scripts/bench.sh

bench-cluster: deps ## Cluster benchmarks: egress, blocked viewers, storage requests, cross-pod delay (scripts/bench-cluster.sh)
	bash scripts/bench-cluster.sh
