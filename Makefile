# stack — build, test, lint, bench, demo. Every target has a `## help` line.
SHELL := /bin/bash
GO ?= $(shell command -v go || echo /usr/local/go/bin/go)
export PATH := $(dir $(GO)):$(PATH)
export GOFLAGS := -buildvcs=false
PKGS := ./...
# Debian packages the tests and the demo need.
APT_PKGS := busybox-static iproute2 mmdebstrap postgresql-client
# Images the integration tests build from Debian's packages, once per
# machine (a rebuild takes a couple of minutes and ~400 MB of downloads).
TEST_CACHE ?= /var/cache/stack-test
PG_TAR := $(TEST_CACHE)/postgres-15.tar

.PHONY: help build deps test test-unit test-integration test-images lint bench demo clean-test

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

# Static binaries: no dynamic loader at each start (stack-runtime and
# stack-init each start once per container). stack-init has an entry point
# of its own: it runs without the Go runtime (cmd/stack-init).
build: ## build bin/stack, bin/stack-runtime and bin/stack-init
	CGO_ENABLED=0 $(GO) build -o bin/stack ./cmd/stack
	CGO_ENABLED=0 $(GO) build -o bin/stack-runtime ./cmd/stack-runtime
	CGO_ENABLED=0 $(GO) build -ldflags=-E=main.entry -o bin/stack-init ./cmd/stack-init

deps: ## install the Debian packages the tests and demo need (as root)
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

test: deps lint test-unit test-integration ## the README's test command: lint, unit tests, then integration tests as root

test-unit: ## unit tests: no root, seconds
	$(GO) test -short -count=1 $(PKGS)

# Integration tests run as root inside a private network namespace made for
# the run, so nothing touches the host's network. STACK_TEST_ROOT=1 turns
# every root-test skip into a failure. One package at a time (-p 1): the
# leak checks compare machine-wide mounts, links and cgroups, which another
# package's tests running alongside would disturb.
test-integration: test-images ## integration tests (root), in a private network namespace
	@test "$$(id -u)" = 0 || { echo "test-integration needs root"; exit 1; }
	unshare --net --fork -- sh -c 'ip link set lo up && STACK_TEST_ROOT=1 STACK_TEST_POSTGRES_TAR=$(PG_TAR) $(GO) test -p 1 -count=1 -timeout 20m $(PKGS)'

test-images: $(PG_TAR) ## build the test images from Debian's packages (cached in TEST_CACHE)

# PostgreSQL 15 from Debian bookworm, without the cluster its package makes
# (the tests make their own in a volume).
$(PG_TAR):
	@mkdir -p $(TEST_CACHE)
	mmdebstrap --quiet --variant=essential --include=postgresql-15 \
		--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
		--dpkgopt='path-exclude=/usr/share/locale/*' \
		--customize-hook='rm -rf "$$1"/var/lib/postgresql/15 "$$1"/etc/postgresql/15/main' \
		bookworm $(TEST_CACHE)/partial-postgres.tar
	mv $(TEST_CACHE)/partial-postgres.tar $@

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

# Container start/stop latencies (beside runc's and crun's, installed for
# the comparison), DNS lookups from inside a container and
# published-port throughput over 200 runs; up/down of 1, 10 and 50 services
# over 5; the library benchmarks (logs, image store, cgroups, DNS server,
# veth attach, nftables) with go test's default time.
bench: deps ## benchmarks (root), in a private network namespace
	@for p in runc crun; do dpkg -s $$p >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$p >/dev/null || true; done
	unshare --net --fork -- sh -c 'ip link set lo up && export STACK_TEST_ROOT=1 && \
		$(GO) test -run "^$$" -bench . -benchtime 200x -count 1 ./engine/ && \
		$(GO) test -run "^$$" -bench . -benchtime 5x -count 1 ./reconciler/live/ && \
		$(GO) test -run "^$$" -bench . -count 1 ./engine/logs/ ./engine/image/ ./engine/cgroups/ ./network/dns/ ./network/link/ ./network/firewall/ ./volume/copyup/ ./engine/archive/'

demo: deps build ## build the demo image from Debian's busybox-static and run the demo
	./examples/demo.sh

clean-test: ## remove what crashed tests left: processes, mounts, cgroups, temp roots
	-@for d in /tmp/st*; do [ -d "$$d" ] || continue; \
		pkill -9 -f "$$d" 2>/dev/null; \
		grep " $$d" /proc/self/mountinfo | awk '{print $$5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null; \
		rm -rf "$$d"; done; true
	-@for c in /sys/fs/cgroup/*/stack/* /sys/fs/cgroup/stack/*; do [ -d "$$c" ] && rmdir "$$c"; done 2>/dev/null; true
