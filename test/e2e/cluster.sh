#!/usr/bin/env bash
# A container-less Kubernetes control plane on 127.0.0.1 for the e2e test:
# etcd + kube-apiserver + kube-controller-manager + kube-scheduler, the VolumeSnapshot CRDs, and
# (when a CSI socket is given) the CSI controller sidecars and snapshot-controller.
#   cluster.sh up BIN_DIR WORK_DIR [CSI_SOCKET]   writes WORK_DIR/kubeconfig, logs/*.log, *.pid
#   cluster.sh down WORK_DIR                       stops by PID: sidecars and KCM, then
#                                                  the apiserver (waited for), then etcd
# Ports: etcd 32379/32380 and the apiserver 36443, away from the OpenStack test bed's.
# LOG_FORMAT (text or json) is the sidecars' and snapshot-controller's --logging-format.
# KUBELET_NODE=NAME: a control plane for a real kubelet of that name (test/node):
# Node,RBAC authorization with NodeRestriction, a token for system:node:NAME in
# WORK_DIR/kubelet.kubeconfig, kubeconfigs that verify the API server's certificate,
# kube-root-ca.crt published for pods' service-account tokens, the node lifecycle
# controller on, and snapshot-controller started even without a CSI socket (the CSI
# sidecars then run in the chart's pods). ETCD_PORT, ETCD_PEER_PORT, API_PORT move it.
set -euo pipefail
ETCD_PORT=${ETCD_PORT:-32379}; ETCD_PEER_PORT=${ETCD_PEER_PORT:-32380}; API_PORT=${API_PORT:-36443}

stop_one() {
  local f=$1/$2.pid p; [[ -f $f ]] || return 0; p=$(cat "$f")
  kill "$p" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
  kill -9 "$p" 2>/dev/null || true; rm -f "$f"
}
down() {
  local W=$1 f n
  [[ -d $W ]] || return 0
  for f in "$W"/*.pid; do
    [[ -e $f ]] || continue
    n=$(basename "$f" .pid); case $n in etcd|kube-apiserver) ;; *) stop_one "$W" "$n" & ;; esac
  done
  wait
  stop_one "$W" kube-apiserver
  stop_one "$W" etcd
}

up() {
  local BIN W S=${3:-}
  BIN=$(cd "$1" && pwd); mkdir -p "$2"; W=$(cd "$2" && pwd)
  down "$W"
  rm -rf "$W/etcd"; mkdir -p "$W"/{etcd,pki,logs}
  start() { local n=$1; shift; "$@" >"$W/logs/$n.log" 2>&1 & echo $! >"$W/$n.pid"; }
  alive() { kill -0 "$(cat "$W/$1.pid")" 2>/dev/null || { echo "$1 exited; its log ends:" >&2; tail -20 "$W/logs/$1.log" >&2; exit 1; }; }
  local token=e2e-admin-token node=${KUBELET_NODE:-}
  [[ -f $W/pki/sa.key ]] || { openssl genrsa -out "$W/pki/sa.key" 2048 2>/dev/null; openssl rsa -in "$W/pki/sa.key" -pubout -out "$W/pki/sa.pub" 2>/dev/null; }
  echo "$token,e2e-admin,e2e-admin,system:masters" >"$W/pki/tokens.csv"
  # kubeconfig USER TOKEN: the API server's own self-signed certificate is the CA
  # with a real kubelet (its file exists once the API server has started).
  kubeconfig() {
    local ca="insecure-skip-tls-verify: true"
    [[ -n $node ]] && ca="certificate-authority: \"$W/pki/apiserver.crt\""
    cat <<KC
apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster: {server: "https://127.0.0.1:$API_PORT", $ca}
users:
- name: $1
  user: {token: "$2"}
contexts:
- name: e2e
  context: {cluster: e2e, user: $1}
current-context: e2e
KC
  }
  kubeconfig admin "$token" >"$W/kubeconfig"
  local authz=(--authorization-mode=RBAC --disable-admission-plugins=TaintNodesByCondition)
  local kcm=(--controllers='*,-node-lifecycle-controller')
  if [[ -n $node ]]; then
    local nt; nt=$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
    echo "$nt,system:node:$node,system:node:$node,system:nodes" >>"$W/pki/tokens.csv"
    kubeconfig "system:node:$node" "$nt" >"$W/kubelet.kubeconfig"
    authz=(--authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction --kubelet-preferred-address-types=InternalIP)
    kcm=(--controllers='*' --root-ca-file="$W/pki/apiserver.crt")
  fi
  start etcd "$BIN/etcd" --name e2e --data-dir "$W/etcd" --unsafe-no-fsync \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "e2e=http://127.0.0.1:$ETCD_PEER_PORT"
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$ETCD_PORT/health" >/dev/null && break; alive etcd; sleep 0.2; done
  # --endpoint-reconciler-type=none: required with a loopback --advertise-address.
  start kube-apiserver "$BIN/kube-apiserver" --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$API_PORT" --endpoint-reconciler-type=none \
    --cert-dir="$W/pki" --token-auth-file="$W/pki/tokens.csv" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$W/pki/sa.pub" --service-account-signing-key-file="$W/pki/sa.key" \
    --service-cluster-ip-range=10.96.0.0/24 --allow-privileged=true "${authz[@]}"
  export KUBECONFIG=$W/kubeconfig
  for _ in $(seq 1 300); do [[ -f $W/pki/apiserver.crt ]] && "$BIN/kubectl" get --raw /readyz >/dev/null 2>&1 && break; alive kube-apiserver; sleep 0.2; done
  "$BIN/kubectl" get --raw /readyz >/dev/null
  # The PV binder (it also marks PVCs for the external provisioner), GC, namespaces.
  start kube-controller-manager "$BIN/kube-controller-manager" --kubeconfig="$W/kubeconfig" \
    --bind-address=127.0.0.1 --secure-port=0 --leader-elect=false \
    --service-account-private-key-file="$W/pki/sa.key" --use-service-account-credentials=false "${kcm[@]}"
  # Pods with WaitForFirstConsumer claims: the scheduler picks the node, the PV
  # binder and the provisioner follow, the attach-detach controller makes the
  # VolumeAttachment. Without a kubelet nothing heartbeats the test's Node, so the
  # not-ready taint on create and the node lifecycle controller (unreachable taints) are off.
  start kube-scheduler "$BIN/kube-scheduler" --kubeconfig="$W/kubeconfig" \
    --bind-address=127.0.0.1 --secure-port=0 --leader-elect=false
  # All six snapshot CRDs: snapshot-controller waits ~30 s for the group ones otherwise.
  "$BIN/kubectl" apply -k "$BIN/crd/snapshot" >/dev/null
  "$BIN/kubectl" wait --for=condition=Established crd --all --timeout=60s >/dev/null
  for _ in $(seq 1 100); do "$BIN/kubectl" -n default get serviceaccount default >/dev/null 2>&1 && break; alive kube-controller-manager; sleep 0.2; done
  if [[ -n $S ]]; then
    local common=(--kubeconfig="$W/kubeconfig" --leader-election=false -v=4 --logging-format="${LOG_FORMAT:-text}")
    start csi-provisioner "$BIN/csi-provisioner" --csi-address="$S" "${common[@]}" --extra-create-metadata --timeout=3m --default-fstype=ext4
    start csi-attacher "$BIN/csi-attacher" --csi-address="$S" "${common[@]}" --timeout=3m
    start csi-resizer "$BIN/csi-resizer" --csi-address="$S" "${common[@]}" --timeout=3m --handle-volume-inuse-error=false
    start csi-snapshotter "$BIN/csi-snapshotter" --csi-address="$S" "${common[@]}" --extra-create-metadata --timeout=3m
  fi
  if [[ -n $S || -n $node ]]; then
    start snapshot-controller "$BIN/snapshot-controller" --kubeconfig="$W/kubeconfig" --leader-election=false -v=4 --logging-format="${LOG_FORMAT:-text}"
  fi
  echo "control plane up: KUBECONFIG=$W/kubeconfig"
}

case ${1:-} in
  up) shift; up "$@" ;;
  down) shift; down "${1:?work dir}" ;;
  *) echo "usage: $0 up BIN_DIR WORK_DIR [CSI_SOCKET] | down WORK_DIR" >&2; exit 2 ;;
esac
