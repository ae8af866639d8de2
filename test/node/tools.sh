#!/usr/bin/env bash
# Build the real node's pinned tools into BIN_DIR (the e2e tools cache): containerd,
# ctr and the runc shim, crictl, and the two CSI sidecars the Go module proxy does not
# serve (node-driver-registrar, livenessprobe), from their release source trees.
# kubelet itself is built by test/e2e/tools.sh with the control plane (same module graph).
# A tool is rebuilt only when its pin changes (.<tool>.version beside each binary).
# Usage: test/node/tools.sh BIN_DIR
#
# SIDECAR_SRC: a directory holding node-driver-registrar-<v>.tar.gz and
# livenessprobe-<v>.tar.gz (release trees with vendor/; .ci/run points it at
# ../shared/src). Unset: the two repositories are cloned at their tags instead.
set -euo pipefail
BIN=$(mkdir -p "${1:?bin dir}" && cd "$1" && pwd)
CONTAINERD_VERSION=${CONTAINERD_VERSION:-v2.4.2}
CRICTL_VERSION=${CRICTL_VERSION:-v1.37.0}
REGISTRAR_VERSION=${REGISTRAR_VERSION:-v2.17.0}
LIVENESSPROBE_VERSION=${LIVENESSPROBE_VERSION:-v2.19.0}
# Static binaries: the sidecars become one-binary images; containerd needs no cgo
# without btrfs, devmapper and zfs snapshotters (overlayfs is all the node uses).
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0
WORK=$(mktemp -d /tmp/cinder-csi-node-tools.XXXXXX); trap 'rm -rf "$WORK"' EXIT
# shellcheck source=../e2e/pins.sh
source "$(dirname "${BASH_SOURCE[0]}")/../e2e/pins.sh"
log() { echo "node-tools: $*" >&2; }

containerd() {
  local m=github.com/containerd/containerd/v2 c
  local l="-s -w -X $m/version.Version=$CONTAINERD_VERSION -X $m/version.Package=$m"
  for c in containerd ctr containerd-shim-runc-v2; do
    have "$c" "$CONTAINERD_VERSION" && continue
    log "go install $m/cmd/$c@$CONTAINERD_VERSION"
    GOBIN=$BIN go install -trimpath -tags no_btrfs,no_devmapper,no_zfs -ldflags="$l" "$m/cmd/$c@$CONTAINERD_VERSION"
    mark "$c" "$CONTAINERD_VERSION"
  done
}

crictl() {
  have crictl "$CRICTL_VERSION" && return 0
  log "go install sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION"
  GOBIN=$BIN go install -trimpath -ldflags="-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$CRICTL_VERSION" \
    "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION"
  mark crictl "$CRICTL_VERSION"
}

# vendored NAME VERSION CMD: build ./cmd/CMD of kubernetes-csi/NAME at VERSION with -mod=vendor.
vendored() {
  local name=$1 v=$2 cmd=$3 d=$WORK/$1
  have "$cmd" "$v" && return 0
  mkdir -p "$d"
  if [ -n "${SIDECAR_SRC:-}" ]; then
    local tgz=$SIDECAR_SRC/$name-$v.tar.gz
    [ -f "$tgz" ] || { log "SIDECAR_SRC=$SIDECAR_SRC has no $name-$v.tar.gz"; exit 1; }
    tar -xzf "$tgz" -C "$d" --strip-components=1
  else
    log "SIDECAR_SRC is not set: cloning kubernetes-csi/$name at $v"
    git clone -q --depth 1 --branch "$v" "https://github.com/kubernetes-csi/$name" "$d"
  fi
  log "build $name $v (-mod=vendor)"
  ( cd "$d" && go build -mod=vendor -trimpath -ldflags="-s -w -X main.version=$v" -o "$BIN/$cmd" "./cmd/$cmd" )
  mark "$cmd" "$v"
}

start=$(date +%s)
containerd
crictl
vendored node-driver-registrar "$REGISTRAR_VERSION" csi-node-driver-registrar
vendored livenessprobe "$LIVENESSPROBE_VERSION" livenessprobe
log "ready in $(( $(date +%s) - start ))s"
