# shellcheck shell=bash
# lib.sh: settings and helpers shared by the up, down and check scripts. Sourced, not run.
#
# Knobs (environment):
#   CINDER_TEST_BASE=/var/lib/cinder-csi-test  state, config, logs (log/), pids (run/)
#   CINDER_TEST_CLOUDS=<repo>/.cache/cinder/clouds.yaml   where up.sh writes clouds.yaml
#   CINDER_TEST_SKIP_INSTALL=1   never call apt-get (the packages must be present)
#   CINDER_TEST_DEBUG=true       debug logging in Cinder
#   CINDER_TEST_ROLES="member"   Keystone roles of the test user in its project
#                                (add "admin" for admin-only APIs such as get_pools)
#   CINDER_TEST_MYSQL_PORT=3306, CINDER_TEST_KEYSTONE_PORT=5000,
#   CINDER_TEST_API_PORT=8776 (Keystone auth), CINDER_TEST_NOAUTH_PORT=8777,
#   CINDER_TEST_RABBIT_PORT=5672          loopback ports
#   CINDER_TEST_NOVA_PORT=8774, CINDER_TEST_PLACEMENT_PORT=8778,
#   CINDER_TEST_NEUTRON_STUB_PORT=9696    loopback ports of nova-up.sh's services

TEST_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$TEST_DIR/../.." && pwd)
BASE=${CINDER_TEST_BASE:-/var/lib/cinder-csi-test}
CLOUDS_YAML=${CINDER_TEST_CLOUDS:-$REPO_ROOT/.cache/cinder/clouds.yaml}
MYSQL_PORT=${CINDER_TEST_MYSQL_PORT:-3306}
KEYSTONE_PORT=${CINDER_TEST_KEYSTONE_PORT:-5000}
API_PORT=${CINDER_TEST_API_PORT:-8776}
NOAUTH_PORT=${CINDER_TEST_NOAUTH_PORT:-8777}
RABBIT_PORT=${CINDER_TEST_RABBIT_PORT:-5672}
RABBIT_DIST_PORT=$((RABBIT_PORT + 20000))
EPMD_PORT=4369
REGION=RegionOne
BACKEND=nfs1
# Two availability zones, one backend each (both volume_backend_name $BACKEND, so
# every volume type reaches both): ZONE_A is Cinder's default zone, where a volume
# asked for without a zone lands; ZONE_B is the second backend's.
ZONE_A=nova
ZONE_B=${CINDER_TEST_ZONE_B:-zone-b}
BACKEND_B=nfs2
TEST_PROJECT=csi-test
TEST_USER=csi-test
TEST_ROLES=${CINDER_TEST_ROLES:-member}
# First line of the clouds.yaml we write: down.sh only deletes a file that has it.
CLOUDS_MARK="# written by test/cinder/up.sh"

# Debian's OpenStack runs on /usr/bin/python3; a pyenv or venv python earlier on
# PATH breaks its helper tools (keystone-manage, cinder-manage, openstack, ...).
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
unset PYTHONPATH PYTHONHOME VIRTUAL_ENV PYENV_VERSION || true
export LC_ALL=C.UTF-8

# Every long-running process up.sh starts, with a word its command line must
# contain (so a recycled PID is never signalled). Stop order is bottom-up.
declare -A PROC_WORD=(
  [mariadb]=mariadbd [epmd]=epmd [rabbitmq]=rabbitmq [keystone]=uwsgi
  [cinder-scheduler]=cinder-scheduler [cinder-volume]=cinder-volume
  [cinder-backup]=cinder-backup [cinder-backup-b]=cinder-backup [cinder-api]=cinder-api [cinder-api-noauth]=cinder-api
)
CINDER_PROCS=(cinder-api cinder-api-noauth cinder-backup cinder-backup-b cinder-volume cinder-scheduler)
INFRA_PROCS=(keystone rabbitmq epmd mariadb)
# What nova-up.sh adds (make openstack-up). Each name is also the word its
# command line contains, so they need no PROC_WORD entry. down.sh stops them
# first; nova-down.sh stops only them.
NOVA_PROCS=(nova-api nova-compute nova-compute-b nova-conductor nova-scheduler placement-api neutron-stub)
PROC_WORD[nova-compute-b]=nova-compute
NOVA_PORT=${CINDER_TEST_NOVA_PORT:-8774}
PLACEMENT_PORT=${CINDER_TEST_PLACEMENT_PORT:-8778}
NEUTRON_STUB_PORT=${CINDER_TEST_NEUTRON_STUB_PORT:-9696}
NOVA_HOST=nova-csi-test       # the (fake) compute host of zone nova ($ZONE_A)
NOVA_HOST_B=nova-csi-test-b   # and of $ZONE_B (an aggregate of that zone)

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}'; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# pid_of NAME: the recorded PID if that process is still ours and alive.
pid_of() {
  local f="$BASE/run/$1.pid" pid
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "${PROC_WORD[$1]:-$1}" || return 1
  echo "$pid"
}

# descendants PID: every descendant, breadth first.
descendants() {
  local queue=("$1") p k
  while ((${#queue[@]})); do
    p=${queue[0]}; queue=("${queue[@]:1}")
    for k in $(ps -o pid= --ppid "$p" 2>/dev/null); do echo "$k"; queue+=("$k"); done
  done
}

# ------------------------------------------- starting services (up scripts) --
# start NAME CMD...: CMD in a session of its own, output to $LOG/NAME.out, PID
# to $RUN/NAME.pid. The caller defines LOG, RUN and die().
start() {
  local name=$1; shift
  setsid "$@" >>"$LOG/$name.out" 2>&1 </dev/null 9>&- &   # 9: our lock, not theirs
  echo $! >"$RUN/$name.pid"
  STARTED+=("$name")
}
STARTED=()

# child_running PID: a child of this shell that has not exited. Not pid_of: a
# child that has been forked but has not exec'd its command yet still shows
# this script's command line (about one start in seven on an idle machine),
# and a child's PID is not reused before the shell reaps it.
child_running() {
  local st
  { st=$(<"/proc/$1/stat"); } 2>/dev/null || return 1
  st=${st##*) }
  [[ ${st%% *} != Z ]]
}

# all_alive: every process started so far is still running; sets DEAD if not.
all_alive() {
  local n
  for n in "${STARTED[@]}"; do
    child_running "$(<"$RUN/$n.pid")" || { DEAD=$n; return 1; }
  done
}

# wait_for DESC TIMEOUT CMD...: poll CMD every 0.5 s; fail early, with the end
# of its output, if a service died.
wait_for() {
  local desc=$1 limit=$2 t; shift 2
  t=$(now)
  until "$@" >/dev/null 2>&1; do
    if ! all_alive; then
      tail -n 15 "$LOG/$DEAD.out" 2>/dev/null | sed "s/^/    [$DEAD.out] /"
      die "$DEAD died while waiting for $desc; see $LOG/$DEAD.out and $LOG/$DEAD*.log"
    fi
    awk -v a="$t" -v b="$(now)" -v l="$limit" 'BEGIN{exit !(b-a>l)}' &&
      die "timeout after ${limit}s waiting for $desc"
    sleep 0.5
  done
}

# session_members NAME: live processes in the session up.sh gave NAME (every
# service is started with setsid, so its session id is the recorded PID) whose
# command line has NAME's word. Finds the orphans of a leader that crashed.
session_members() {
  local f="$BASE/run/$1.pid" sid p
  [[ -f $f ]] || return 0
  sid=$(<"$f")
  [[ $sid =~ ^[0-9]+$ ]] || return 0
  for p in $(ps -e -o pid= -o sid= | awk -v s="$sid" '$2==s{print $1}'); do
    tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q -- "${PROC_WORD[$1]:-$1}" && echo "$p"
  done
}

# stop_recorded NAME: SIGTERM the recorded PID, wait up to 15 s for it and its
# descendants, then SIGKILL whatever is left of that tree. If the recorded
# process itself crashed, its orphans (same session) get the same treatment.
# Reports through the caller's say().
stop_recorded() {
  local name=$1 pid f="$BASE/run/$1.pid"
  [[ -f $f ]] || return 0
  local t tree left p i
  t=$(now)
  if pid=$(pid_of "$name"); then
    mapfile -t tree < <({ echo "$pid"; descendants "$pid"; session_members "$name"; } | awk '!seen[$0]++')
    kill -TERM "$pid" 2>/dev/null
  else
    mapfile -t tree < <(session_members "$name")
    if ((${#tree[@]} == 0)); then rm -f "$f"; return 0; fi   # nothing left of it
    pid="$(<"$f") (gone; orphans ${tree[*]})"
    kill -TERM "${tree[@]}" 2>/dev/null
  fi
  for i in $(seq 60); do
    left=()
    for p in "${tree[@]}"; do kill -0 "$p" 2>/dev/null && left+=("$p"); done
    ((${#left[@]})) || break
    sleep 0.25
  done
  if ((${#left[@]})); then
    say "$name: SIGKILL to ${left[*]}"
    kill -KILL "${left[@]}" 2>/dev/null
  fi
  rm -f "$f"
  say "stopped $name (pid $pid, ${#tree[@]} process(es), $(since "$t")s)"
}

# memory_of_all: "RSS PSS" in MiB of every recorded process and its descendants.
memory_of_all() {
  local f pids=()
  for f in "$BASE"/run/*.pid; do
    [[ -e $f ]] && pids+=("$(basename "$f" .pid)")
  done
  memory_of "${pids[@]}"
}

# memory_of NAME...: "RSS PSS" in MiB of the recorded processes and their descendants.
memory_of() {
  local n pid p rss=0 pss=0 v
  for n in "$@"; do
    pid=$(pid_of "$n") || continue
    for p in "$pid" $(descendants "$pid"); do
      v=$(awk '/^Rss:/{r=$2} /^Pss:/{s=$2} END{print r+0, s+0}' "/proc/$p/smaps_rollup" 2>/dev/null || echo "0 0")
      rss=$((rss + ${v% *})); pss=$((pss + ${v#* }))
    done
  done
  echo "$((rss / 1024)) $((pss / 1024))"
}

# ------------------------------------------- helpers of up.sh and nova-up.sh --
# An up script sets T0 (now), UP_NAME (its log prefix), DOWN_SCRIPT (what
# cleans up after it) and TIMINGS (its timings file under $BASE/log) first.
say() { printf '[%s %5ss] %s\n' "$UP_NAME" "$(since "$T0")" "$*"; }
die() { say "ERROR: $*"; say "logs: $BASE/log; clean up with: bash $TEST_DIR/$DOWN_SCRIPT"; exit 1; }
timing() { printf '%-32s %7ss\n' "$1" "$2" >>"$BASE/log/$TIMINGS"; }
secret() { head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 24; }
# sql: MariaDB's client as root on the test bed's socket ($SOCK).
sql() { mariadb --no-defaults -uroot --socket="$SOCK" "$@"; }

# install_missing APT_LOG HOW_LONG DEBCONF PKG...: installs those of the packages
# that are missing (none: nothing runs), with DEBCONF's answers preset and no
# packaged service started by a maintainer script; apt's output goes to
# $BASE/log/APT_LOG. Sets INSTALL_SECS (0 when nothing was missing).
install_missing() {
  local aptlog=$BASE/log/$1 how_long=$2 debconf=$3 missing ti own_policy=0 ok=1
  shift 3
  INSTALL_SECS=0
  mapfile -t missing < <(missing_packages "$@")
  ((${#missing[@]})) || return 0
  [[ ${CINDER_TEST_SKIP_INSTALL:-0} == 1 ]] && die "missing packages: ${missing[*]}"
  say "installing ${#missing[@]} packages (once per machine, $how_long): ${missing[*]}"
  ti=$(now)
  debconf-set-selections <<<"$debconf"
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; own_policy=1
  fi
  { DEBIAN_FRONTEND=noninteractive apt-get update -q &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"; } \
    >"$aptlog" 2>&1 || ok=0
  ((own_policy)) && rm -f /usr/sbin/policy-rc.d
  ((ok)) || { tail -20 "$aptlog"; die "apt-get failed; see $aptlog"; }
  INSTALL_SECS=$(since "$ti")
  say "packages installed in ${INSTALL_SECS}s"
}

# missing_packages PKG...: prints those of the Debian packages that are not installed.
missing_packages() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
  done
}

# with_lock: one up.sh/down.sh at a time per state dir.
with_lock() {
  exec 9>"${BASE%/}.lock"
  flock -n 9 && return
  echo "waiting for another up.sh/down.sh (lock ${BASE%/}.lock)" >&2
  flock -w 900 9 || { echo "gave up waiting for ${BASE%/}.lock" >&2; exit 1; }
}
