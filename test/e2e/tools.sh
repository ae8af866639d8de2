#!/usr/bin/env bash
# Build the Kubernetes e2e tools from the Go module proxy into BIN_DIR, pinned.
# A tool is rebuilt only when its pinned version changes (a .<tool>.version stamp
# sits next to each binary), so re-runs cost nothing.
# Usage: test/e2e/tools.sh BIN_DIR
#
# Layout (measured on 2 cores from an empty build cache: about 21 min in all, 2026-12-01):
#  - ONE throwaway module builds kube-apiserver, kube-controller-manager, kube-scheduler, kubectl,
#    etcd, csi-attacher, csi-resizer, csi-snapshotter and snapshot-controller: every
#    ./staging/src/k8s.io/X replace of k8s.io/kubernetes becomes k8s.io/X v0.<minor>.<patch>,
#    so all of them share one compiled set of k8s libraries.
#  - csi-provisioner is built in a copy of its own module source (its go.mod
#    replaces, k8s libraries v0.36 against client-go v0.37, are honoured there).
#  - helm: plain go install. The snapshot CRDs come from the client/v8 module.
# The module proxy here is a curated mirror: k8s.io/kubernetes v1.37.2's zip is refused;
# node-driver-registrar and livenessprobe are not on it at all. external-provisioner
# v6.4.0 (and the sig-storage-lib-external-provisioner v13.1.0 it needs) is served since
# 2026-12-02; it builds here in about 5 minutes on 2 cores.
set -euo pipefail
BIN=$(mkdir -p "${1:?bin dir}" && cd "$1" && pwd)
K8S_VERSION=${K8S_VERSION:-v1.37.1}
ETCD_VERSION=${ETCD_VERSION:-v3.7.3}
PROVISIONER_VERSION=${PROVISIONER_VERSION:-v6.4.0}
ATTACHER_VERSION=${ATTACHER_VERSION:-v4.13.0}
SNAPSHOTTER_VERSION=${SNAPSHOTTER_VERSION:-v8.7.0}
RESIZER_VERSION=${RESIZER_VERSION:-v2.3.0}
HELM_VERSION=${HELM_VERSION:-v3.22.0}
# CGO_ENABLED=0: static binaries, so that the same files serve as the sidecar images' one binary.
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0
LDF="-s -w"
WORK=$(mktemp -d /tmp/cinder-csi-e2e-tools.XXXXXX); trap 'rm -rf "$WORK"' EXIT

# shellcheck source=../e2e/pins.sh
source "$(dirname "${BASH_SOURCE[0]}")/pins.sh"
modfield() { go mod download -json "$1" | sed -n "s/^[[:space:]]*\"$2\": \"\(.*\)\",\$/\1/p"; }
log() { echo "e2e-tools: $*" >&2; }

install_helm() {
  have helm "$HELM_VERSION" && return 0
  log "go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  GOBIN=$BIN go install -trimpath -ldflags="$LDF" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  mark helm "$HELM_VERSION"
}

build_provisioner() {
  have csi-provisioner "$PROVISIONER_VERSION/static" && return 0
  local mod=github.com/kubernetes-csi/external-provisioner/v6 d="$WORK/provisioner"
  log "build $mod@$PROVISIONER_VERSION in a copy of its module source"
  cp -r "$(modfield "$mod@$PROVISIONER_VERSION" Dir)" "$d"; chmod -R u+w "$d"
  ( cd "$d" && go build -trimpath -ldflags="$LDF -X main.version=$PROVISIONER_VERSION" -o "$BIN/csi-provisioner" ./cmd/csi-provisioner )
  mark csi-provisioner "$PROVISIONER_VERSION/static"
}

GROUP="kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet etcd csi-attacher csi-resizer csi-snapshotter snapshot-controller"
build_group() {
  local stamp="$K8S_VERSION/$ETCD_VERSION/$ATTACHER_VERSION/$RESIZER_VERSION/$SNAPSHOTTER_VERSION/static" need=0 n
  for n in $GROUP; do have "$n" "$stamp" || need=1; done
  [ $need = 1 ] || return 0
  log "build the tools module $stamp"
  local d="$WORK/tools" sv="v0.${K8S_VERSION#v1.}" minor gm
  minor=$(echo "$K8S_VERSION" | cut -d. -f2); mkdir -p "$d"
  gm=$(modfield "k8s.io/kubernetes@$K8S_VERSION" GoMod)
  { printf 'module e2e.local/tools\n\ngo 1.26.0\n\nrequire (\n'
    printf '\tk8s.io/kubernetes %s\n\tgo.etcd.io/etcd/server/v3 %s\n' "$K8S_VERSION" "$ETCD_VERSION"
    printf '\tgithub.com/kubernetes-csi/external-attacher/v4 %s\n\tgithub.com/kubernetes-csi/external-resizer/v2 %s\n' "$ATTACHER_VERSION" "$RESIZER_VERSION"
    printf '\tgithub.com/kubernetes-csi/external-snapshotter/v8 %s\n\tgithub.com/kubernetes-csi/external-snapshotter/client/v8 %s\n)\n\n' "$SNAPSHOTTER_VERSION" "$SNAPSHOTTER_VERSION"
    sed -n "s#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#replace \1 => \1 $sv#p" "$gm"; } > "$d/go.mod"
  local pk=(k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
            k8s.io/kubernetes/cmd/kubelet
            go.etcd.io/etcd/server/v3 github.com/kubernetes-csi/external-attacher/v4/cmd/csi-attacher
            github.com/kubernetes-csi/external-resizer/v2/cmd/csi-resizer
            github.com/kubernetes-csi/external-snapshotter/v8/cmd/csi-snapshotter
            github.com/kubernetes-csi/external-snapshotter/v8/cmd/snapshot-controller)
  { printf '//go:build tools\n\npackage tools\n\nimport (\n'; for n in "${pk[@]}"; do printf '\t_ "%s"\n' "$n"; done; printf ')\n'; } > "$d/tools.go"
  local kl="$LDF" p
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    kl="$kl -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  ( cd "$d" && go mod tidy
    for p in "${pk[@]}"; do
      n=$(basename "$p"); [ "$n" = v3 ] && n=etcd
      local l="$kl"
      case $n in
        csi-attacher) l="$LDF -X main.version=$ATTACHER_VERSION" ;;
        csi-resizer) l="$LDF -X main.version=$RESIZER_VERSION" ;;
        csi-snapshotter|snapshot-controller) l="$LDF -X main.version=$SNAPSHOTTER_VERSION" ;;
        etcd) l="$LDF" ;;
      esac
      have "$n" "$stamp" && continue
      log "  $n"
      go build -trimpath -ldflags="$l" -o "$BIN/$n" "$p"; mark "$n" "$stamp"
    done )
}

install_crds() {
  have crd "$SNAPSHOTTER_VERSION" && [ -d "$BIN/crd/snapshot" ] && return 0
  local d; d=$(modfield "github.com/kubernetes-csi/external-snapshotter/client/v8@$SNAPSHOTTER_VERSION" Dir)
  rm -rf "$BIN/crd/snapshot"; mkdir -p "$BIN/crd/snapshot"
  install -m 0644 "$d"/config/crd/*.yaml "$BIN/crd/snapshot/"
  echo "$SNAPSHOTTER_VERSION" > "$BIN/.crd.version"; touch "$BIN/crd"; chmod +x "$BIN/crd"
}

start=$(date +%s)
build_group
build_provisioner
install_helm
install_crds
log "ready in $(( $(date +%s) - start ))s: $(cd "$BIN" && ls | tr '\n' ' ')"
