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
FUZZTIME ?= 5s
# Debian packages the node code and its real-mount tests use.
NODE_PKGS := util-linux e2fsprogs xfsprogs btrfs-progs udev mount qemu-utils qemu-system-common

.PHONY: all build test unit sanity realcinder demo fuzz bench deps lint clean

all: build

build:
	$(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $(BIN)/csi-driver ./cmd/csi-driver

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
## `make cinder-down` stops it) with csi-sanity, the lifecycle, auth and fault tests.
test: deps build unit fuzz sanity cinder-up realcinder

## realcinder: the suites against the real local Cinder (needs `make cinder-up`).
realcinder:
	@mkdir -p $(CACHE)
	@start=$$(date +%s); REQUIRE_REAL_CINDER=1 $(GO) test -race -count=1 -timeout 45m -v ./test/realcinder/ > $(CACHE)/realcinder.log 2>&1; rc=$$?; \
	  grep -E '^(real-cinder|lifecycle)|^(ok|FAIL|--- |    --- )' $(CACHE)/realcinder.log; \
	  echo "real-Cinder suites took $$(( $$(date +%s) - start ))s"; \
	  [ $$rc = 0 ] || { echo "real-Cinder suites failed; full log in $(CACHE)/realcinder.log"; grep -v '^[IWE][0-9]' $(CACHE)/realcinder.log | tail -60; }; exit $$rc

## demo: the main job: a real local Cinder, the driver, and a volume's life through
## the CSI API with readable progress. Cinder is left running (make cinder-down).
demo: deps build cinder-up
	$(GO) run ./test/demo --driver $(BIN)/csi-driver --work $(CACHE)/demo

unit:
	$(GO) vet ./...
	$(GO) test -race -count=1 ./pkg/... ./cmd/...

sanity:
	@mkdir -p $(CACHE)
	@$(GO) test -race -count=1 -timeout 20m -v ./test/sanity/ > $(CACHE)/sanity.log 2>&1; rc=$$?; \
	  grep -E '^sanity|^(ok|FAIL|--- )' $(CACHE)/sanity.log; \
	  [ $$rc = 0 ] || { echo "sanity failed; full log in $(CACHE)/sanity.log"; tail -60 $(CACHE)/sanity.log; }; exit $$rc

fuzz:
	@set -e; for pkg in ./pkg/driver; do \
		for f in $$($(GO) test -list 'Fuzz.*' $$pkg | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$f ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg >/dev/null; \
		done; \
	done

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./pkg/...

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
## Keystone, RabbitMQ and MariaDB (test/cinder/nova-up.sh). Not part of make test.
## openstack-down: stops all of it (down.sh stops Nova first); nova-down: Nova only.
.PHONY: openstack-up openstack-down nova-down
openstack-up: cinder-up
	bash test/cinder/nova-up.sh

openstack-down:
	bash test/cinder/down.sh

nova-down:
	bash test/cinder/nova-down.sh
