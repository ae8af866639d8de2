#!/usr/bin/env bash
# down.sh: stop the local Cinder test bed that up.sh started, and clean up.
#
#  * stops exactly the processes recorded in $BASE/run/*.pid (and their
#    descendants): Nova and Placement if nova-up.sh started them, the Cinder
#    services in parallel, then Keystone, RabbitMQ, epmd and MariaDB;
#  * unmounts filesystems on loop devices whose backing file is under $BASE,
#    detaches those loop devices, then unmounts everything mounted below $BASE
#    (the bind mount that stands in for the NFS share);
#  * deletes the state (databases, volumes, backups, keys) but keeps $BASE/log
#    for post-mortems, and removes the clouds.yaml up.sh wrote.
#
# CINDER_TEST_PURGE=1 also deletes $BASE/log. Safe to run at any time, also
# after a crash or when nothing is running.
set -uo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

say() { printf '[cinder-down] %s\n' "$*"; }
[[ $(id -u) == 0 ]] || { say "must run as root"; exit 1; }
T0=$(now)
[[ ${CINDER_TEST_LOCKED:-} == 1 ]] || with_lock
if [[ ! -d $BASE ]]; then
  say "nothing to do: $BASE does not exist"
  exit 0
fi
BASE=$(realpath "$BASE")

# Nova and Placement (nova-up.sh) first, then Cinder (graceful_shutdown_timeout
# = 5, so in parallel), then what they use. stop_recorded is in lib.sh.
for n in "${NOVA_PROCS[@]}"; do stop_recorded "$n" & done
wait
for n in "${CINDER_PROCS[@]}"; do stop_recorded "$n" & done
wait
for n in "${INFRA_PROCS[@]}"; do stop_recorded "$n"; done
for f in "$BASE"/run/*.pid; do [[ -e $f ]] && stop_recorded "$(basename "$f" .pid)"; done

# Loop devices backed by files under $BASE (volumes a test attached on the
# "node" side): unmount what is mounted from them, then detach them.
while read -r dev file; do
  [[ -n $dev && $file == "$BASE"/* ]] || continue
  for m in $(awk -v d="$dev" '$1==d{print $2}' /proc/mounts | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m"
    say "unmounted $m ($dev)"
  done
  losetup -d "$dev" && say "detached $dev ($file)"
done < <(losetup -l -n -O NAME,BACK-FILE 2>/dev/null)

# Whatever is still mounted below $BASE, deepest first: the share's bind
# mount, and mounts a test left behind.
for m in $(awk -v b="$BASE/" 'index($2,b)==1{print $2}' /proc/mounts | sort -r); do
  umount "$m" 2>/dev/null || umount -l "$m"
  say "unmounted $m"
done

# State goes; logs stay unless purged. --one-file-system: never follow a mount
# that survived the loop above.
if [[ ${CINDER_TEST_PURGE:-0} == 1 ]]; then
  rm -rf --one-file-system "$BASE"
  say "removed $BASE"
else
  find "$BASE" -mindepth 1 -maxdepth 1 ! -name log -exec rm -rf --one-file-system {} +
  say "removed the state in $BASE (logs kept in $BASE/log)"
fi
if [[ -f $CLOUDS_YAML ]] && head -1 "$CLOUDS_YAML" | grep -qF "$CLOUDS_MARK"; then
  rm -f "$CLOUDS_YAML"
  say "removed $CLOUDS_YAML"
fi
say "done in $(since "$T0")s"
