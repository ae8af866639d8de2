#!/usr/bin/env bash
# Build Kubernetes' own e2e suite binary (e2e.test), the ginkgo CLI and agnhost (the
# suite's test image) of the same module graph, from k8s.io/kubernetes at the control plane's pinned version, into
# BIN_DIR (the e2e tools cache). Rebuilt only when the pin changes.
# Usage: test/conformance/tools.sh BIN_DIR
set -euo pipefail
BIN=$(mkdir -p "${1:?bin dir}" && cd "$1" && pwd)
K8S_VERSION=${K8S_VERSION:-v1.37.1}
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0
WORK=$(mktemp -d /tmp/cinder-csi-conformance-tools.XXXXXX); trap 'rm -rf "$WORK"' EXIT
# shellcheck source=../e2e/pins.sh
source "$(dirname "${BASH_SOURCE[0]}")/../e2e/pins.sh"
log() { echo "conformance-tools: $*" >&2; }
stamp="$K8S_VERSION/static"
have e2e.test "$stamp" && have ginkgo "$stamp" && have agnhost "$stamp" && { log "ready: e2e.test ginkgo agnhost ($stamp)"; exit 0; }

start=$(date +%s)
d=$WORK/mod sv="v0.${K8S_VERSION#v1.}" minor=$(echo "$K8S_VERSION" | cut -d. -f2)
mkdir -p "$d"
gm=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
# k8s.io/kubernetes replaces its staging modules with ./staging/src/...: the same
# modules at v0.<minor>.<patch> stand in for them.
{ printf 'module e2e.local/conformance\n\ngo 1.26.0\n\nrequire k8s.io/kubernetes %s\n\n' "$K8S_VERSION"
  sed -n "s#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#replace \1 => \1 $sv#p" "$gm"; } > "$d/go.mod"
printf '//go:build tools\n\npackage tools\n\nimport (\n\t_ "k8s.io/kubernetes/test/e2e"\n\t_ "k8s.io/kubernetes/test/images/agnhost"\n\t_ "github.com/onsi/ginkgo/v2/ginkgo"\n)\n' > "$d/tools.go"
kl="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kl="$kl -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
done
cd "$d"
# The suite's test-only imports are not in a tidy graph of its non-test packages.
go get -t "k8s.io/kubernetes/test/e2e@$K8S_VERSION" >/dev/null 2>&1 || go get -t "k8s.io/kubernetes/test/e2e@$K8S_VERSION"
go mod tidy
log "go test -c k8s.io/kubernetes/test/e2e"
go test -c -trimpath -ldflags="$kl" -o "$BIN/e2e.test" k8s.io/kubernetes/test/e2e
mark e2e.test "$stamp"
go build -trimpath -ldflags="-s -w" -o "$BIN/ginkgo" github.com/onsi/ginkgo/v2/ginkgo
mark ginkgo "$stamp"
# The suite's pods run agnhost (its image is built from this binary: test/images/build.sh).
go build -trimpath -ldflags="-s -w" -o "$BIN/agnhost" k8s.io/kubernetes/test/images/agnhost
mark agnhost "$stamp"
log "ready in $(( $(date +%s) - start ))s: e2e.test ginkgo agnhost"
