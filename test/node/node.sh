#!/usr/bin/env bash
# A real Kubernetes node on this machine for test/node: containerd 2.x + runc + CNI
# (bridge, host-local, loopback on a bridge made here) + kubelet, joined to the control
# plane of test/e2e/cluster.sh (KUBELET_NODE mode) on 127.0.0.1.
#   node.sh up BIN_DIR WORK_DIR IMAGES_DIR   starts containerd, imports every image
#                                            archive of IMAGES_DIR, starts kubelet and
#                                            waits for the Node to be Ready
#   node.sh kubelet-restart WORK_DIR         stops kubelet (SIGTERM) and starts it again
#   node.sh down WORK_DIR                    stops kubelet, the pods, containerd (by PID),
#                                            unmounts what they left, removes the bridge,
#                                            the route and the NAT rule, and restores
#                                            mount propagation and ip_forward
# WORK_DIR must hold cluster.sh's kubeconfig and kubelet.kubeconfig. Everything this
# script starts is recorded in WORK_DIR/node/*.pid; its state lives under
# /var/lib/cinder-csi-node and /run/cinder-csi-node, apart from any system containerd.
# Pitfalls of this kernel and VM, each answered below: ../../shared/kubelet-node.md
# in the team's notes (cgroup v1, no CAP_SYS_RESOURCE, private mounts, no registry).
set -euo pipefail
NODE=${KUBELET_NODE:-node-1}
BRIDGE=cnode0 NODE_IP=10.244.0.1 POD_CIDR=10.244.0.0/24
SERVICE_IP=10.96.0.1 API_PORT=${API_PORT:-36443}
STATE=/var/lib/cinder-csi-node RUNDIR=/run/cinder-csi-node
SOCK=$RUNDIR/containerd/containerd.sock
NAT_TAG=cinder-csi-node
NODE_PKGS="runc containernetworking-plugins iptables"

log() { echo "node: $*" >&2; }
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
stop_pid() {
  local f=$1 p; [[ -f $f ]] || return 0; p=$(cat "$f")
  kill "$p" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
  kill -9 "$p" 2>/dev/null || true; rm -f "$f"
}
install_packages() {
  local missing="" p
  for p in $NODE_PKGS; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"; done
  [[ -z $missing ]] && return 0
  log "installing$missing"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

configs() {
  local W=$1 N=$1/node
  mkdir -p "$N/etc/cni" "$N/etc/certs.d/_default" "$N/logs"
  # Nothing can be pulled here: every registry resolves to a closed loopback port.
  cat >"$N/etc/certs.d/_default/hosts.toml" <<'T'
server = "http://127.0.0.1:1"
[host."http://127.0.0.1:1"]
  capabilities = ["pull", "resolve"]
T
  cat >"$N/etc/containerd.toml" <<T
# containerd 2.x for kubelet on a cgroup-v1 host, apart from any system containerd.
version = 3
root = '$STATE/containerd'
state = '$RUNDIR/containerd'
[grpc]
  address = '$SOCK'
[ttrpc]
  address = '$SOCK.ttrpc'
[plugins]
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = 'overlayfs'
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = 'registry.k8s.io/pause:3.10'
    [plugins.'io.containerd.cri.v1.images'.registry]
      config_path = '$N/etc/certs.d'
  [plugins.'io.containerd.cri.v1.runtime']
    # No CAP_SYS_RESOURCE in this VM: nobody may lower oom_score_adj below 0.
    restrict_oom_score_adj = true
    tolerate_missing_hugetlb_controller = true
    disable_hugetlb_controller = true
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = 'runc'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = 'io.containerd.runc.v2'
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          BinaryName = '/usr/sbin/runc'
          SystemdCgroup = false
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = ['/usr/lib/cni']
      conf_dir = '$N/etc/cni'
      max_conf_num = 1
  [plugins.'io.containerd.grpc.v1.cri']
    stream_server_address = '127.0.0.1'
    stream_server_port = '0'
T
  cat >"$N/etc/cni/10-pods.conflist" <<T
{"cniVersion": "1.0.0", "name": "cinder-csi-node-pods", "plugins": [
  {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$NODE_IP"}]], "dataDir": "$RUNDIR/cni"}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
T
  echo "nameserver 127.0.0.1" >"$N/etc/resolv.conf"
  cat >"$N/etc/kubelet.yaml" <<T
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$SOCK
address: $NODE_IP
healthzBindAddress: 127.0.0.1
healthzPort: 10248
port: 10250
readOnlyPort: 0
authentication: {anonymous: {enabled: true}, webhook: {enabled: false}}
authorization: {mode: AlwaysAllow}
failSwapOn: false
oomScoreAdj: 0
resolvConf: $N/etc/resolv.conf
clusterDomain: cluster.local
serializeImagePulls: false
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
evictionHard: {memory.available: 100Mi, nodefs.available: 2%, imagefs.available: 2%}
syncFrequency: 10s
fileCheckFrequency: 10s
T
  printf 'runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\ntimeout: 10\n' "$SOCK" "$SOCK" >"$N/etc/crictl.yaml"
}

start_kubelet() {
  local BIN=$1 W=$2 N=$2/node t0; t0=$(date +%s%N)
  "$BIN/kubelet" --config="$N/etc/kubelet.yaml" --kubeconfig="$W/kubelet.kubeconfig" \
    --hostname-override="$NODE" --node-ip="$NODE_IP" --v=2 >>"$N/logs/kubelet.log" 2>&1 &
  echo $! >"$N/kubelet.pid"; echo "$BIN" >"$N/bin-dir"
  until curl -sf http://127.0.0.1:10248/healthz >/dev/null 2>&1; do
    kill -0 "$(cat "$N/kubelet.pid")" 2>/dev/null || { tail -30 "$N/logs/kubelet.log" >&2; exit 1; }
    (( $(ms "$t0") < 60000 )) || { log "kubelet /healthz not ok after 60 s"; exit 1; }
    sleep 0.1
  done
  log "kubelet healthy in $(ms "$t0") ms"
  until KUBECONFIG=$W/kubeconfig "$BIN/kubectl" get node "$NODE" >/dev/null 2>&1; do
    (( $(ms "$t0") < 60000 )) || { log "Node $NODE not registered after 60 s"; exit 1; }
    sleep 0.2
  done
  KUBECONFIG=$W/kubeconfig "$BIN/kubectl" wait --for=condition=Ready "node/$NODE" --timeout=120s >/dev/null
  log "node $NODE Ready $(ms "$t0") ms after kubelet start"
}

up() {
  local BIN W IMAGES t0
  BIN=$(cd "${1:?bin dir}" && pwd); W=$(cd "${2:?work dir}" && pwd); IMAGES=$(cd "${3:?images dir}" && pwd)
  local N=$W/node
  down "$W"
  install_packages
  configs "$W"
  mkdir -p "$STATE" "$RUNDIR" /var/lib/kubelet
  # Bidirectional hostPath mounts (the node plugin's kubelet dir, state dir, NFS mount
  # base) need a shared host mount; without systemd every mount here is private.
  mount --make-rshared /
  [[ -f $N/ip_forward.orig ]] || cat /proc/sys/net/ipv4/ip_forward >"$N/ip_forward.orig"
  # kubelet refuses a loopback node IP: the node IP is the pod bridge's gateway.
  ip link show "$BRIDGE" >/dev/null 2>&1 || { ip link add "$BRIDGE" type bridge; ip addr add "$NODE_IP/24" dev "$BRIDGE"; }
  ip link set "$BRIDGE" up
  # The kubernetes Service (what the controller pod's in-cluster config dials): no
  # kube-proxy runs here, so one NAT rule sends it to the API server on loopback, and
  # the service range is routed onto the bridge so that nothing leaves the machine.
  ip route replace 10.96.0.0/24 dev "$BRIDGE"
  iptables -t nat -C OUTPUT -d "$SERVICE_IP/32" -p tcp --dport 443 -m comment --comment "$NAT_TAG" -j DNAT --to-destination "127.0.0.1:$API_PORT" 2>/dev/null ||
    iptables -t nat -A OUTPUT -d "$SERVICE_IP/32" -p tcp --dport 443 -m comment --comment "$NAT_TAG" -j DNAT --to-destination "127.0.0.1:$API_PORT"
  [[ -f $N/route_localnet.orig ]] || cat /proc/sys/net/ipv4/conf/all/route_localnet >"$N/route_localnet.orig"
  sysctl -qw net.ipv4.conf.all.route_localnet=1
  t0=$(date +%s%N)
  "$BIN/containerd" --config "$N/etc/containerd.toml" >>"$N/logs/containerd.log" 2>&1 &
  echo $! >"$N/containerd.pid"
  until "$BIN/ctr" --address "$SOCK" version >/dev/null 2>&1; do
    kill -0 "$(cat "$N/containerd.pid")" 2>/dev/null || { tail -20 "$N/logs/containerd.log" >&2; exit 1; }
    sleep 0.1
  done
  log "containerd up in $(ms "$t0") ms"
  t0=$(date +%s%N)
  local a n=0
  for a in "$IMAGES"/*.tar; do
    "$BIN/ctr" --address "$SOCK" -n k8s.io images import --no-unpack "$a" >"$N/logs/import.log" 2>&1 ||
      { cat "$N/logs/import.log" >&2; exit 1; }
    n=$((n + 1))
  done
  log "$n images imported in $(ms "$t0") ms"
  start_kubelet "$BIN" "$W"
}

kubelet_restart() {
  local W; W=$(cd "${1:?work dir}" && pwd)
  stop_pid "$W/node/kubelet.pid"
  start_kubelet "$(cat "$W/node/bin-dir")" "$W"
}

down() {
  local W=${1:?work dir} N BIN
  N=$W/node; [[ -d $N ]] || return 0
  BIN=$(cat "$N/bin-dir" 2>/dev/null || true)
  stop_pid "$N/kubelet.pid"
  if [[ -S $SOCK && -n $BIN ]]; then
    local c=(env CRI_CONFIG_FILE="$N/etc/crictl.yaml" "$BIN/crictl")
    "${c[@]}" stopp $("${c[@]}" pods -q 2>/dev/null) >/dev/null 2>&1 || true
    "${c[@]}" rmp -a -f >/dev/null 2>&1 || true
  fi
  stop_pid "$N/containerd.pid"
  # Shims outlive containerd; each runs in its own session under /run/containerd.
  pkill -f "containerd-shim-runc-v2 .*-address $SOCK" 2>/dev/null || true
  # What kubelet and containerd leave mounted: pod volumes, sandbox shm, overlay rootfs.
  grep -E " (/var/lib/kubelet|$STATE|$RUNDIR|/run/containerd/io.containerd)" /proc/self/mounts | awk '{print $2}' | sort -r |
    while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done || true
  while iptables -t nat -D OUTPUT -d "$SERVICE_IP/32" -p tcp --dport 443 -m comment --comment "$NAT_TAG" -j DNAT --to-destination "127.0.0.1:$API_PORT" 2>/dev/null; do :; done
  ip route del 10.96.0.0/24 dev "$BRIDGE" 2>/dev/null || true
  ip link del "$BRIDGE" 2>/dev/null || true
  if [[ -f $N/ip_forward.orig ]]; then cat "$N/ip_forward.orig" >/proc/sys/net/ipv4/ip_forward; rm -f "$N/ip_forward.orig"; fi
  if [[ -f $N/route_localnet.orig ]]; then cat "$N/route_localnet.orig" >/proc/sys/net/ipv4/conf/all/route_localnet; rm -f "$N/route_localnet.orig"; fi
  mount --make-rprivate /
  rm -rf "$RUNDIR/cni"
}

case ${1:-} in
  up) shift; up "$@" ;;
  kubelet-restart) shift; kubelet_restart "$@" ;;
  down) shift; down "$@" ;;
  *) echo "usage: $0 up BIN_DIR WORK_DIR IMAGES_DIR | kubelet-restart WORK_DIR | down WORK_DIR" >&2; exit 2 ;;
esac
