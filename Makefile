# Every target runs as root on a fresh Debian machine and installs what it needs.
SHELL := /bin/bash
GO ?= go
export GOTOOLCHAIN := local
export GOFLAGS := -buildvcs=false
# Tests that need root, loop devices and mkfs fail instead of skipping under make.
export REQUIRE_HOST_TESTS ?= 1
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
CACHE := $(CURDIR)/.cache
BIN := $(CURDIR)/bin
# Short fuzz runs inside make test; run `make fuzz FUZZTIME=5m` for a longer hunt.
# A run that ends in a bare "context deadline exceeded" with no failing input is
# Go 1.26's coordinator race at the -fuzztime boundary (golang/go#75804): it is run
# once more; a second one, or any failing input, fails.
FUZZTIME ?= 5s
# Debian packages the node code and its real-mount tests use.
NODE_PKGS := util-linux e2fsprogs xfsprogs btrfs-progs dosfstools udev mount qemu-utils qemu-system-common

.PHONY: all build test unit sanity realcinder realnova demo fuzz bench deps lint clean

all: build

# CGO_ENABLED=0: a static binary, so that the same file goes into the image (the unit
# tests keep cgo for -race).
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $(BIN)/csi-driver ./cmd/csi-driver

## image: the driver, sidecar, pause and busybox images as OCI archives in
## .cache/images, for `ctr -n k8s.io images import` (no registry, no Docker daemon):
## test/images/build.sh, deploy/image/README.md. The sidecars come from .cache/e2e/bin.
.PHONY: image
image: build e2e-tools node-tools
	CSI_DRIVER_BIN=$(BIN)/csi-driver E2E_BIN=$(CACHE)/e2e/bin bash test/images/build.sh $(CACHE)/images

## deps: install the host tools the node tests need (once per machine).
deps: $(CACHE)/deps.stamp
$(CACHE)/deps.stamp: Makefile
	@mkdir -p $(CACHE)
	@missing=$$(for p in $(NODE_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q "ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@touch $@

## test: every test: unit (race), short fuzz runs, csi-sanity on real loop devices
## with the fake cloud, then the real local Cinder (started if needed, left running:
## `make cinder-down` stops it) with csi-sanity, the lifecycle, auth and fault tests,
## then Nova on top (make openstack-down stops all) with the --attacher nova suites.
test: deps build lint unit fuzz sanity cinder-up realcinder openstack-up realnova bench-smoke e2e node-e2e storage-suite

## realcinder: the suites against the real local Cinder (needs `make cinder-up`), the
## upstream csi-sanity binary (csi-test at go.mod's version) among them, and the chaos
## suites: the real binary killed mid-operation behind a proxy that breaks requests.
realcinder: build
	@mkdir -p $(CACHE)
	@$(GO) build -o $(BIN)/csi-sanity github.com/kubernetes-csi/csi-test/v5/cmd/csi-sanity
	@start=$$(date +%s); REQUIRE_REAL_CINDER=1 CSI_SANITY_BIN=$(BIN)/csi-sanity CSI_DRIVER_BIN=$(BIN)/csi-driver $(GO) test -race -count=1 -timeout 60m -v ./test/realcinder/ > $(CACHE)/realcinder.log 2>&1; rc=$$?; \
	  grep -E '^(real-cinder|lifecycle|group snapshot|upstream csi-sanity|chaos)|^(ok|FAIL|--- |    --- )' $(CACHE)/realcinder.log; \
	  echo "real-Cinder suites took $$(( $$(date +%s) - start ))s"; \
	  [ $$rc = 0 ] || { echo "real-Cinder suites failed; full log in $(CACHE)/realcinder.log"; grep -v '^[IWE][0-9]' $(CACHE)/realcinder.log | tail -60; }; exit $$rc

## realnova: the --attacher nova suites against real Nova + Cinder (needs make
## openstack-up): csi-sanity, a volume moving between servers, stuck attachments,
## node identity from metadata, and the attach/detach figures.
realnova: build
	@mkdir -p $(CACHE)
	@start=$$(date +%s); REQUIRE_REAL_NOVA=1 CSI_DRIVER_BIN=$(BIN)/csi-driver $(GO) test -race -count=1 -timeout 45m -v ./test/realnova/ > $(CACHE)/realnova.log 2>&1; rc=$$?; \
	  grep -E '^(real-nova|nova-figures)|^(ok|FAIL|--- |    --- )' $(CACHE)/realnova.log; \
	  echo "real-Nova suites took $$(( $$(date +%s) - start ))s"; \
	  [ $$rc = 0 ] || { echo "real-Nova suites failed; full log in $(CACHE)/realnova.log"; grep -v '^[IWE][0-9]' $(CACHE)/realnova.log | tail -60; }; exit $$rc

## e2e: Kubernetes end to end. Builds the pinned control plane, sidecars, helm and
## snapshot CRDs from the Go module proxy into .cache/e2e/bin (once per version:
## test/e2e/tools.sh), then runs test/e2e against the real local Cinder: the chart
## through a server-side dry run, PVCs, snapshots, backups, resize, retype, attach.
E2E_BIN := $(CACHE)/e2e/bin
.PHONY: e2e e2e-tools
e2e-tools:
	@mkdir -p $(CACHE)/e2e
	@bash test/e2e/tools.sh $(E2E_BIN) > $(CACHE)/e2e/tools.log 2>&1 || { tail -40 $(CACHE)/e2e/tools.log; exit 1; }
	@tail -1 $(CACHE)/e2e/tools.log

e2e: build cinder-up e2e-tools
	@start=$$(date +%s); REQUIRE_E2E=1 E2E_BIN=$(E2E_BIN) CSI_DRIVER_BIN=$(BIN)/csi-driver $(GO) test -race -count=1 -timeout 30m -v ./test/e2e/ > $(CACHE)/e2e.log 2>&1; rc=$$?; \
	  grep -E '^e2e-timing|^(ok|FAIL|--- |    --- )|e2e_test.go' $(CACHE)/e2e.log; \
	  echo "Kubernetes e2e took $$(( $$(date +%s) - start ))s"; \
	  [ $$rc = 0 ] || { echo "e2e failed; full log in $(CACHE)/e2e.log, component logs in /tmp/cinder-csi-e2e/logs"; grep -v '^[IWE][0-9]' $(CACHE)/e2e.log | tail -60; }; exit $$rc

## node-tools: containerd, ctr, the runc shim, crictl, node-driver-registrar and
## livenessprobe (from $$SIDECAR_SRC, else cloned at their tags) into .cache/e2e/bin.
.PHONY: node-tools node-e2e
node-tools:
	@mkdir -p $(CACHE)/e2e
	@bash test/node/tools.sh $(E2E_BIN) > $(CACHE)/e2e/node-tools.log 2>&1 || { tail -40 $(CACHE)/e2e/node-tools.log; exit 1; }
	@tail -1 $(CACHE)/e2e/node-tools.log

## node-e2e: the chart's pods on a real node (containerd + kubelet, test/node/node.sh)
## joined to a control plane on 127.0.0.1, against the real local Cinder: pods that
## write and read, a StatefulSet, raw block, restore and clone, fsGroup, expansion,
## inline volumes, node plugin and kubelet restarts; nothing left in Cinder or on the host.
node-e2e: build cinder-up e2e-tools node-tools image
	@start=$$(date +%s); REQUIRE_NODE_E2E=1 E2E_BIN=$(E2E_BIN) IMAGES_DIR=$(CACHE)/images $(GO) test -race -count=1 -timeout 40m -v ./test/node/ > $(CACHE)/node-e2e.log 2>&1; rc=$$?; \
	  grep -E '^node-timing|^(ok|FAIL|--- |    --- |        --- )|node_test.go|bed_test.go|steps_test.go' $(CACHE)/node-e2e.log; \
	  echo "real-node suite took $$(( $$(date +%s) - start ))s"; \
	  [ $$rc = 0 ] || { echo "node suite failed; full log in $(CACHE)/node-e2e.log, component logs in /tmp/cinder-csi-node"; grep -v '^[IWE][0-9]' $(CACHE)/node-e2e.log | tail -80; }; exit $$rc

## conformance-tools: Kubernetes' e2e.test and ginkgo (k8s.io/kubernetes at the control
## plane's version) into .cache/e2e/bin (test/conformance/tools.sh).
## storage-suite: the focused part of Kubernetes' external storage suite, every declared
## capability of test/conformance/driver.yaml at least once (in make test).
## conformance: the whole external storage suite; FOCUS, SKIP, PROCS and TIMEOUT override.
.PHONY: conformance-tools e2e-images storage-suite conformance
e2e-images: image conformance-tools
	@E2E_BIN=$(E2E_BIN) IMAGES=e2e bash test/images/build.sh $(CACHE)/images
conformance-tools:
	@mkdir -p $(CACHE)/e2e
	@bash test/conformance/tools.sh $(E2E_BIN) > $(CACHE)/e2e/conformance-tools.log 2>&1 || { tail -40 $(CACHE)/e2e/conformance-tools.log; exit 1; }
	@tail -1 $(CACHE)/e2e/conformance-tools.log
define storage_suite
	@start=$$(date +%s); REQUIRE_NODE_E2E=1 REQUIRE_CONFORMANCE=1 E2E_BIN=$(E2E_BIN) IMAGES_DIR=$(CACHE)/images \
	  CONFORMANCE_FOCUS="$(1)" CONFORMANCE_SKIP="$(SKIP)" CONFORMANCE_PROCS="$(PROCS)" CONFORMANCE_MIN_PASSED="$(2)" CONFORMANCE_TIMEOUT="$(TIMEOUT)" \
	  $(GO) test -count=1 -timeout 4h -v -run '^TestUpstreamStorage$$' ./test/node/ > $(CACHE)/$(3).log 2>&1; rc=$$?; \
	  grep -E '^conformance|^(ok|FAIL|--- )|conformance_test.go' $(CACHE)/$(3).log; \
	  echo "Kubernetes storage suite took $$(( $$(date +%s) - start ))s; ginkgo's log: /tmp/cinder-csi-node/conformance/ginkgo.log"; \
	  [ $$rc = 0 ] || { echo "storage suite failed; full log in $(CACHE)/$(3).log"; grep -v '^[IWE][0-9]' $(CACHE)/$(3).log | tail -60; }; exit $$rc
endef
storage-suite: build cinder-up e2e-tools node-tools e2e-images
	$(call storage_suite,$(FOCUS),20,storage-suite)
conformance: build cinder-up e2e-tools node-tools e2e-images
	$(call storage_suite,$(or $(FOCUS),External.Storage),$(or $(MIN_PASSED),86),conformance)

## demo: the main job: a real local Cinder, the driver, and a volume's life through
## the CSI API with readable progress. Cinder is left running (make cinder-down).
demo: deps build cinder-up
	$(GO) run ./test/demo --driver $(BIN)/csi-driver --work $(CACHE)/demo

## lint: golangci-lint at a pinned version (built once into .cache/tools, keyed by the
## version) with .golangci.yml: errcheck, govet, ineffassign, staticcheck, unused.
GOLANGCI_VERSION := v2.15.0
GOLANGCI := $(CACHE)/tools/golangci-lint-$(GOLANGCI_VERSION)/golangci-lint
$(GOLANGCI):
	@mkdir -p $(dir $@)
	GOBIN=$(dir $@) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VERSION)
lint: $(GOLANGCI)
	$(GOLANGCI) run ./...

## unit: the build of every package (tools and tests too), gofmt, go vet, then the
## unit tests with the race detector.
unit:
	$(GO) build ./...
	@unformatted=$$(gofmt -l cmd pkg internal test); [ -z "$$unformatted" ] || { echo "gofmt: not formatted: $$unformatted"; exit 1; }
	$(GO) vet ./...
	$(GO) test -race -count=1 ./pkg/... ./cmd/... ./internal/... ./test/images/... ./test/sanityrun/...

sanity:
	@mkdir -p $(CACHE)
	@$(GO) test -race -count=1 -timeout 20m -v ./test/sanity/ > $(CACHE)/sanity.log 2>&1; rc=$$?; \
	  grep -E '^sanity|^(ok|FAIL|--- )' $(CACHE)/sanity.log; \
	  [ $$rc = 0 ] || { echo "sanity failed; full log in $(CACHE)/sanity.log"; tail -60 $(CACHE)/sanity.log; }; exit $$rc

fuzz:
	@set -e; for pkg in ./pkg/driver ./pkg/mount ./pkg/cinder; do \
		targets=$$($(GO) test -list 'Fuzz.*' $$pkg | grep '^Fuzz' || true); \
		[ -n "$$targets" ] || { echo "fuzz: no Fuzz targets in $$pkg"; exit 1; }; \
		for f in $$targets; do \
			echo "fuzz $$pkg $$f ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg > $(CACHE)/fuzz.log 2>&1 && continue; \
			if grep -q 'context deadline exceeded' $(CACHE)/fuzz.log && ! grep -qE 'Failing input written|panic:' $(CACHE)/fuzz.log; then \
				echo "fuzz $$f: Go 1.26's -fuzztime race (golang/go#75804, fixed in 1.27), no failing input: once more"; \
				$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg > $(CACHE)/fuzz.log 2>&1 && continue; \
			fi; \
			tail -40 $(CACHE)/fuzz.log; exit 1; \
		done; \
	done

## bench: the driver against the real local Cinder and Nova (needs make
## openstack-up): test/bench drives the real binary over its socket, interleaved
## with a direct gophercloud baseline polling every 50 ms, both through one
## counting proxy, and prints one "bench: …" line per figure (README, Performance).
## Then the in-process Go benchmarks of ./pkg. make test runs bench-real with a
## small N so that the benchmark cannot rot; it asserts no timing.
BENCH_N ?= 20
BENCH_C ?= 1,8
BENCH_SCALE ?= 10,100,1000
BENCH_BURST ?= 50
.PHONY: bench-real bench-smoke
bench-smoke:
	@$(MAKE) --no-print-directory bench-real BENCH_N=3 BENCH_SCALE=10,30 BENCH_BURST=20
bench: bench-real
	$(GO) test -run '^$$' -bench . -benchmem ./pkg/...

bench-real: build
	@mkdir -p $(CACHE)
	@CSI_DRIVER_BIN=$(BIN)/csi-driver $(GO) run ./test/bench -n $(BENCH_N) -c $(BENCH_C) -scale $(BENCH_SCALE) -burst $(BENCH_BURST) \
	  2> $(CACHE)/bench.err | tee $(CACHE)/bench.log; rc=$${PIPESTATUS[0]}; \
	  [ $$rc = 0 ] || { grep -v '^[IWE][0-9]' $(CACHE)/bench.err | tail -30; echo "bench failed; log in $(CACHE)/bench.err"; }; exit $$rc

clean:
	rm -rf $(BIN)

## cinder-up / cinder-down: a real Cinder + Keystone on 127.0.0.1 for the
## integration tests and the demo; see test/cinder/README.md.
.PHONY: cinder-up cinder-down
cinder-up:
	bash test/cinder/up.sh

cinder-down:
	bash test/cinder/down.sh

## openstack-up: cinder-up, plus Nova (fake virt driver) and Placement on the same
## Keystone, RabbitMQ and MariaDB (test/cinder/nova-up.sh).
## openstack-down: stops all of it (down.sh stops Nova first); nova-down: Nova only.
.PHONY: openstack-up openstack-down nova-down
openstack-up: cinder-up
	bash test/cinder/nova-up.sh

openstack-down:
	bash test/cinder/down.sh

nova-down:
	bash test/cinder/nova-down.sh
