#!/usr/bin/env bash
# up.sh: a real OpenStack Cinder (Debian bookworm packages, "Zed") on 127.0.0.1,
# for the driver's integration tests. Run as root; see README.md beside this file.
#
#   MariaDB   127.0.0.1:3306  own datadir under $BASE; databases cinder + keystone
#   RabbitMQ  127.0.0.1:5672  (own epmd on 127.0.0.1:4369)
#   Keystone  127.0.0.1:5000  uwsgi; project/user csi-test, an application
#                             credential, volumev3 + block-storage in the catalog
#   Cinder    127.0.0.1:8776  cinder-api with Keystone auth
#             127.0.0.1:8777  a second cinder-api, noauth, same DB and queue
#             scheduler, volume (two NFS backends on bind-mounted local directories,
#             in zones nova and zone-b),
#             backup (POSIX driver); volume types "standard" (default) and "fast"
#
# Writes clouds.yaml (clouds local, local-appcred, local-noauth) to
# <repo>/.cache/cinder/clouds.yaml. Re-runnable: when everything is already up
# it only checks, rewrites this checkout's clouds.yaml if missing or stale, and
# prints the summary; after a crash it cleans up with down.sh and starts over.
# nova-up.sh (make openstack-up) adds Nova on top. Knobs: see lib.sh.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

T0=$(now) UP_NAME=cinder-up DOWN_SCRIPT=down.sh TIMINGS=timings.txt

[[ $(id -u) == 0 ]] || die "must run as root (it installs packages, mounts and starts services)"
mkdir -p "$BASE"
with_lock
export CINDER_TEST_LOCKED=1
BASE=$(realpath "$BASE")   # the NFS driver realpath()s its mount base; so do we
RUN=$BASE/run ETC=$BASE/etc LOG=$BASE/log
MV='OpenStack-API-Version: volume 3.70'
KS_URL=http://127.0.0.1:$KEYSTONE_PORT/v3

# ------------------------------------------------------------------ helpers --
# ks_token JSON_IDENTITY [JSON_SCOPE]: a Keystone token; sets TOKEN and TOKEN_BODY.
ks_token() {
  local hdr; hdr=$(mktemp)
  TOKEN_BODY=$(curl -sf -D "$hdr" -H 'Content-Type: application/json' \
    -d "{\"auth\":{\"identity\":$1${2:+,\"scope\":$2}}}" "$KS_URL/auth/tokens") || { rm -f "$hdr"; return 1; }
  TOKEN=$(awk -F': ' 'tolower($1)=="x-subject-token"{print $2}' "$hdr" | tr -d '\r')
  rm -f "$hdr"
}
user_identity() {  # the test user's password identity, scoped to its project
  printf '{"methods":["password"],"password":{"user":{"name":"%s","domain":{"name":"Default"},"password":"%s"}}}' \
    "$TEST_USER" "$USER_PASSWORD"
}
user_scope() { printf '{"project":{"id":"%s"}}' "$PROJECT_ID"; }
appcred_identity() {
  printf '{"methods":["application_credential"],"application_credential":{"id":"%s","secret":"%s"}}' \
    "$APPCRED_ID" "$APPCRED_SECRET"
}
# noauth API call (admin context): noauth METHOD PATH [JSON]
noauth() {
  curl -sf -X "$1" -H "X-Auth-Token: admin:$PROJECT_ID" -H "$MV" -H 'Content-Type: application/json' \
    ${3:+-d "$3"} "http://127.0.0.1:$NOAUTH_PORT/v3/$PROJECT_ID$2"
}

summary() {
  local mem; mem=$(memory_of_all)
  cat <<EOF
---------------------------------------------------------------- local Cinder
$1 in $(since "$T0")s
  Keystone        $KS_URL  (region $REGION, project $TEST_PROJECT = $PROJECT_ID, user $TEST_USER)
  Cinder          http://127.0.0.1:$API_PORT/v3/$PROJECT_ID   (Keystone tokens)
  Cinder noauth   http://127.0.0.1:$NOAUTH_PORT/v3/$PROJECT_ID   (X-Auth-Token: admin:$PROJECT_ID)
  MariaDB 127.0.0.1:$MYSQL_PORT, RabbitMQ 127.0.0.1:$RABBIT_PORT
  volume types    standard (default), fast; group types csi-generic (default), csi-consistent; zones $ZONE_A (default; backend $BACKEND, NFS driver on $SHARE_DIR) and $ZONE_B (backend $BACKEND_B, on $BASE/export-b)
  clouds.yaml     $CLOUDS_YAML  (clouds: local, local-appcred, local-noauth)
  memory          RSS ${mem% *} MiB, PSS ${mem#* } MiB (all processes started here)
  logs            $LOG   (timings: $LOG/timings.txt)
  try             OS_CLIENT_CONFIG_FILE=$CLOUDS_YAML OS_CLOUD=local /usr/bin/openstack volume list
  stop            bash $TEST_DIR/down.sh
EOF
}

# write_clouds_yaml: clouds.yaml from the values of state.env (unchanged if current).
write_clouds_yaml() {
  mkdir -p "$(dirname "$CLOUDS_YAML")"
  umask 077
  cat >"$CLOUDS_YAML.tmp" <<EOF
$CLOUDS_MARK on $(date -u +%FT%TZ); down.sh removes it.
# Secrets are fresh on every cold start. Use: OS_CLIENT_CONFIG_FILE=<this file> OS_CLOUD=local
clouds:
  local:
    auth_type: password
    auth:
      auth_url: $KS_URL
      username: $TEST_USER
      password: "$USER_PASSWORD"
      project_name: $TEST_PROJECT
      user_domain_name: Default
      project_domain_name: Default
    region_name: $REGION
    interface: public
    identity_api_version: 3
  local-appcred:
    auth_type: v3applicationcredential
    auth:
      auth_url: $KS_URL
      application_credential_id: $APPCRED_ID
      application_credential_secret: "$APPCRED_SECRET"
    region_name: $REGION
    interface: public
    identity_api_version: 3
  local-noauth:
    auth_type: none
    auth:
      endpoint: http://127.0.0.1:$NOAUTH_PORT/v3
      project_id: $PROJECT_ID
EOF
  # Several checkouts may share one test bed: each keeps its own clouds.yaml.
  if [[ -f $CLOUDS_YAML ]] && cmp -s <(tail -n +2 "$CLOUDS_YAML.tmp") <(tail -n +2 "$CLOUDS_YAML"); then
    rm -f "$CLOUDS_YAML.tmp"
  else
    mv "$CLOUDS_YAML.tmp" "$CLOUDS_YAML"
  fi
  umask 022
}

# Group types for volume group snapshots (idempotent, also on an "already up" bed):
# csi-generic asks for nothing, so Cinder snapshots a group's members one after the
# other (cinder.conf's default_group_type); csi-consistent asks for write-order
# consistent group snapshots, which the NFS backend cannot cut: its groups fail.
ensure_group_types() {
  local have t specs
  have=$(noauth GET /group_types | jq -r '.group_types[].name') || die "listing group types failed"
  for t in csi-generic csi-consistent; do
    grep -qx "$t" <<<"$have" && continue
    specs='{}'
    [[ $t == csi-consistent ]] && specs='{"consistent_group_snapshot_enabled":"<is> True"}'
    noauth POST /group_types "{\"group_type\":{\"name\":\"$t\",\"is_public\":true,\"group_specs\":$specs}}" \
      >/dev/null || die "creating group type $t failed"
  done
}

# ------------------------------------------------------------ already up? --
# Ready marker + every recorded process alive + a real request through each API.
already_up() {
  [[ -f $RUN/ready && -f $RUN/state.env ]] || return 1
  # shellcheck disable=SC1091
  source "$RUN/state.env"
  local n
  for n in "${!PROC_WORD[@]}"; do
    [[ $n == epmd && ! -f $RUN/epmd.pid ]] && continue   # epmd may be someone else's
    pid_of "$n" >/dev/null || { say "$n is not running"; return 1; }
  done
  ks_token "$(user_identity)" "$(user_scope)" || { say "Keystone does not answer"; return 1; }
  curl -sf -o /dev/null -H "X-Auth-Token: $TOKEN" -H "$MV" \
    "http://127.0.0.1:$API_PORT/v3/$PROJECT_ID/volumes" || { say "cinder-api :$API_PORT does not answer"; return 1; }
  noauth GET /volumes >/dev/null || { say "cinder-api :$NOAUTH_PORT does not answer"; return 1; }
  # A bed from before the second zone is rebuilt.
  noauth GET /os-availability-zone | jq -e --arg z "$ZONE_B" '[.availabilityZoneInfo[].zoneName] | index($z) != null' >/dev/null ||
    { say "no zone $ZONE_B (a bed of an older layout)"; return 1; }
}
if [[ -d $RUN ]] && already_up; then
  SHARE_DIR=$BASE/export
  write_clouds_yaml   # this checkout's copy may be missing or stale
  ensure_group_types
  summary "already up: checked"
  exit 0
fi

# ----------------------------------------------------------------- leftovers --
# Anything from an earlier run (a crash, a failed start, a half-stopped set):
# down.sh stops it by PID, unmounts, detaches loops and clears the state.
if [[ -n $(ls -A "$RUN" 2>/dev/null) || -d $BASE/mysql ]] ||
   awk -v b="$BASE/" 'index($2,b)==1{f=1} END{exit !f}' /proc/mounts ||
   losetup -l -n -O BACK-FILE 2>/dev/null | grep -q "^$BASE/"; then
  say "leftovers of an earlier run in $BASE: cleaning up with down.sh"
  bash "$TEST_DIR/down.sh" | sed 's/^/    /'
fi
for p in $MYSQL_PORT $RABBIT_PORT $RABBIT_DIST_PORT $KEYSTONE_PORT $API_PORT $NOAUTH_PORT; do
  port_open "$p" && die "127.0.0.1:$p is in use by a process this script did not start (see: ss -ltnp)"
done

# ----------------------------------------------------------------- packages --
PACKAGES=(
  cinder-api cinder-scheduler cinder-volume cinder-backup keystone
  rabbitmq-server mariadb-server mariadb-client python3-pymysql uwsgi-plugin-python3
  python3-openstackclient python3-cinderclient qemu-utils curl jq util-linux
  nfs-common  # the NFS driver probes for mount.nfs, though nothing is NFS-mounted
  dmidecode   # os-brick's connector probe (cinder-backup) crashes without it
)
mkdir -p "$LOG"
find "$LOG" -maxdepth 1 -type f ! -name 'apt*.log' -delete   # a cold start begins a fresh log set
rm -rf "$LOG"/keystone "$LOG"/rabbitmq
# Answer "no" to every "configure a DB / RabbitMQ / Keystone for me?" question:
# this script writes its own configuration.
install_missing apt.log "a few minutes" "\
cinder-common cinder/configure_db boolean false
cinder-common cinder/configure_rabbit boolean false
cinder-common cinder/configure_ksat boolean false
cinder-api cinder/configure_api-endpoint boolean false
keystone keystone/configure_db boolean false
keystone keystone/create-admin-tenant boolean false
keystone keystone/register-endpoint boolean false" "${PACKAGES[@]}"
timing "apt-get (0 = nothing missing)" "$INSTALL_SECS"

# -------------------------------------------------------------- layout/config --
T_START=$(now)
mkdir -p "$RUN" "$ETC" "$BASE"/{state/lock,state/coordination,export,mnt,backups,mysql,rabbitmq/mnesia,keystone} \
  "$LOG"/{keystone,rabbitmq}
chmod 700 "$RUN" "$ETC"
DB_PASSWORD=$(secret) ADMIN_PASSWORD=$(secret) SERVICE_PASSWORD=$(secret) USER_PASSWORD=$(secret)

# The "NFS share": os-brick mounts share S at <nfs_mount_point_base>/<md5(S)>
# unless that path is already a mount point in /proc/mounts. So a bind mount of
# a local directory there is all the driver needs; volumes are files in it.
# One share per backend: <state>/export for $BACKEND ($ZONE_A), <state>/export-b for
# $BACKEND_B ($ZONE_B).
SHARE_DIR=$BASE/export
share() {  # share DIR SHARES_FILE
  local s=127.0.0.1:$1 mnt
  mnt=$BASE/mnt/$(printf '%s' "127.0.0.1:$1" | md5sum | cut -d' ' -f1)
  mkdir -p "$1" "$mnt"
  chmod 777 "$1"
  mount --bind "$1" "$mnt"
  echo "$s" >"$2"
}
share "$SHARE_DIR" "$ETC/nfs_shares"
share "$BASE/export-b" "$ETC/nfs_shares_b"

CONF=$ETC/cinder.conf
cat >"$CONF" <<EOF
[DEFAULT]
host = cinder-csi-test
my_ip = 127.0.0.1
state_path = $BASE/state
log_dir = $LOG
debug = ${CINDER_TEST_DEBUG:-false}
auth_strategy = keystone
transport_url = rabbit://guest:guest@127.0.0.1:$RABBIT_PORT/
api_paste_config = /etc/cinder/api-paste.ini
rootwrap_config = /etc/cinder/rootwrap.conf
osapi_volume_listen = 127.0.0.1
osapi_volume_listen_port = $API_PORT
osapi_volume_workers = 1
enabled_backends = $BACKEND,$BACKEND_B
storage_availability_zone = $ZONE_A
default_availability_zone = $ZONE_A
default_volume_type = standard
default_group_type = csi-generic
glance_api_servers = http://127.0.0.1:9292
# Stop in ~5 s instead of 60 s.
graceful_shutdown_timeout = 5
# Make the scheduler see the pool within ~10 s of start: by default the
# volume service's first stats can miss the scheduler, and the next report
# comes after a random 0-60 s delay plus a 60 s interval.
periodic_interval = 10
periodic_fuzzy_delay = 0
backend_stats_polling_interval = 10
backup_driver = cinder.backup.drivers.posix.PosixBackupDriver
backup_posix_path = $BASE/backups
backup_workers = 1
backup_compression_algorithm = zstd

[database]
connection = mysql+pymysql://cinder:$DB_PASSWORD@127.0.0.1:$MYSQL_PORT/cinder?charset=utf8mb4

[oslo_concurrency]
lock_path = $BASE/state/lock

[coordination]
backend_url = file://$BASE/state/coordination

[oslo_messaging_notifications]
driver = noop

[keystone_authtoken]
www_authenticate_uri = $KS_URL
auth_url = $KS_URL
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = cinder
password = $SERVICE_PASSWORD
region_name = $REGION
service_token_roles_required = true

EOF
# backend SECTION SHARES_FILE ZONE: an NFS backend section of cinder.conf.
backend() {
  cat >>"$CONF" <<EOF

[$1]
volume_driver = cinder.volume.drivers.nfs.NfsDriver
volume_backend_name = $BACKEND
backend_availability_zone = $3
nfs_shares_config = $2
nfs_mount_point_base = $BASE/mnt
nfs_mount_attempts = 1
nfs_sparsed_volumes = true
nfs_qcow2_volumes = false
nfs_snapshot_support = true
nas_secure_file_operations = false
nas_secure_file_permissions = false
EOF
}
backend "$BACKEND" "$ETC/nfs_shares" "$ZONE_A"
backend "$BACKEND_B" "$ETC/nfs_shares_b" "$ZONE_B"
# The second API process reads cinder.conf, then this (later files win).
# noauth_include_project_id: URLs keep /v3/{project_id}/, as gophercloud's
# blockstorage/noauth client builds them; the token is "user:project".
cat >"$ETC/cinder-api-noauth.conf" <<EOF
[DEFAULT]
auth_strategy = noauth_include_project_id
osapi_volume_listen_port = $NOAUTH_PORT
log_file = cinder-api-noauth.log
EOF

# Cinder backs a volume up with a cinder-backup of the volume's zone: a second one,
# on a host of its own, serves $ZONE_B (a backup restores into either zone).
cat >"$ETC/cinder-backup-b.conf" <<EOF
[DEFAULT]
host = cinder-csi-test-b
storage_availability_zone = $ZONE_B
log_file = cinder-backup-b.log
EOF

KS_CONF=$BASE/keystone/keystone.conf
cat >"$KS_CONF" <<EOF
[DEFAULT]
log_dir = $LOG/keystone
[database]
connection = mysql+pymysql://keystone:$DB_PASSWORD@127.0.0.1:$MYSQL_PORT/keystone?charset=utf8mb4
[token]
provider = fernet
[fernet_tokens]
key_repository = $BASE/keystone/fernet-keys
[credential]
key_repository = $BASE/keystone/credential-keys
[cache]
enabled = false
[identity]
# bcrypt's cheapest cost: every password token is checked against it, and
# test runs ask for many tokens (the default cost, 12, is ~0.3 s of CPU each).
password_hash_rounds = 4
EOF
chmod 600 "$CONF" "$KS_CONF"

# ------------------------------------------------------------------ RabbitMQ --
# Slowest to come up (~10 s), so it goes first.
cat >"$BASE/rabbitmq/rabbitmq.conf" <<EOF
listeners.tcp.default = 127.0.0.1:$RABBIT_PORT
loopback_users.guest = true
log.file.level = warning
EOF
echo '[].' >"$BASE/rabbitmq/enabled_plugins"
chown -R rabbitmq:rabbitmq "$BASE/rabbitmq" "$LOG/rabbitmq"
RMQ_ENV=(
  HOME=/var/lib/rabbitmq ERL_EPMD_ADDRESS=127.0.0.1 ERL_EPMD_PORT=$EPMD_PORT
  RABBITMQ_NODENAME=rabbit@localhost RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  RABBITMQ_NODE_PORT=$RABBIT_PORT RABBITMQ_DIST_PORT=$RABBIT_DIST_PORT
  RABBITMQ_CONFIG_FILE=$BASE/rabbitmq/rabbitmq.conf
  RABBITMQ_ENABLED_PLUGINS_FILE=$BASE/rabbitmq/enabled_plugins
  RABBITMQ_MNESIA_BASE=$BASE/rabbitmq/mnesia RABBITMQ_LOG_BASE=$LOG/rabbitmq
  RABBITMQ_PID_FILE=$BASE/rabbitmq/rabbit.pid
)
AS_RABBIT=(setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups env "${RMQ_ENV[@]}")
if ! port_open $EPMD_PORT; then   # our own epmd, so that down.sh may stop it
  start epmd "${AS_RABBIT[@]}" epmd -address 127.0.0.1 -port $EPMD_PORT
  wait_for "epmd" 20 port_open $EPMD_PORT
fi
tr_=$(now)
start rabbitmq "${AS_RABBIT[@]}" /usr/lib/rabbitmq/bin/rabbitmq-server
say "RabbitMQ starting"

# ------------------------------------------------------------------- MariaDB --
tm=$(now)
SOCK=$BASE/mysql/mysqld.sock
chown -R mysql:mysql "$BASE/mysql"
mariadb-install-db --no-defaults --user=mysql --datadir="$BASE/mysql" --skip-test-db \
  --auth-root-authentication-method=socket >"$LOG/mariadb-install-db.log" 2>&1 ||
  die "mariadb-install-db failed; see $LOG/mariadb-install-db.log"
start mariadb /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$BASE/mysql" \
  --bind-address=127.0.0.1 --port="$MYSQL_PORT" --socket="$SOCK" --pid-file="$BASE/mysql/mariadbd.pid" \
  --log-error="$LOG/mariadb.log" --skip-name-resolve \
  --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci --max-connections=500 \
  --innodb-buffer-pool-size=128M --innodb-flush-log-at-trx-commit=2 --innodb-doublewrite=0
wait_for "MariaDB" 60 sql -e 'SELECT 1'
sql <<SQL || die "creating the databases failed"
CREATE DATABASE cinder; CREATE DATABASE keystone;
CREATE USER 'cinder'@'127.0.0.1' IDENTIFIED BY '$DB_PASSWORD';
CREATE USER 'keystone'@'127.0.0.1' IDENTIFIED BY '$DB_PASSWORD';
GRANT ALL PRIVILEGES ON cinder.* TO 'cinder'@'127.0.0.1';
GRANT ALL PRIVILEGES ON keystone.* TO 'keystone'@'127.0.0.1';
SQL
timing "MariaDB ready" "$(since "$tm")"
say "MariaDB up"

# ------------------------------------------------- schemas (in parallel) --
tk=$(now)
KM=(keystone-manage --config-file "$KS_CONF")
(
  set -e
  "${KM[@]}" db_sync
  "${KM[@]}" fernet_setup --keystone-user root --keystone-group root
  "${KM[@]}" credential_setup --keystone-user root --keystone-group root
  "${KM[@]}" bootstrap --bootstrap-password "$ADMIN_PASSWORD" --bootstrap-username admin \
    --bootstrap-project-name admin --bootstrap-role-name admin --bootstrap-service-name keystone \
    --bootstrap-region-id "$REGION" --bootstrap-admin-url "$KS_URL/" \
    --bootstrap-internal-url "$KS_URL/" --bootstrap-public-url "$KS_URL/"
) >"$LOG/keystone/manage.out" 2>&1 &
KS_SETUP=$!
cinder-manage --config-file "$CONF" db sync >"$LOG/cinder-manage.out" 2>&1 ||
  die "cinder-manage db sync failed; see $LOG/cinder-manage.out"
timing "cinder db sync" "$(since "$tk")"
wait "$KS_SETUP" || die "keystone-manage failed; see $LOG/keystone/manage.out"
timing "keystone db sync + bootstrap" "$(since "$tk")"
say "schemas ready"

# ------------------------------------------------------------------ Keystone --
# uwsgi notes: --lazy-apps loads the app in each worker (no DB handle crosses a
# fork); --http-socket does no keep-alive while keystoneauth reuses
# connections, so every 2nd request would die without 'Connection: close'.
start keystone uwsgi --plugin python3 --http-socket "127.0.0.1:$KEYSTONE_PORT" \
  --wsgi-file /usr/bin/keystone-wsgi-public --master --lazy-apps --processes 2 --threads 1 \
  --die-on-term --need-app --add-header 'Connection: close' \
  --env "OS_KEYSTONE_CONFIG_FILES=$KS_CONF" --logto "$LOG/keystone/uwsgi.log"

# -------------------------------------------------------------------- Cinder --
wait_for "RabbitMQ on :$RABBIT_PORT" 120 port_open "$RABBIT_PORT"
timing "RabbitMQ ready" "$(since "$tr_")"
say "RabbitMQ up"
start cinder-scheduler cinder-scheduler --config-file "$CONF"
start cinder-volume cinder-volume --config-file "$CONF"
start cinder-backup cinder-backup --config-file "$CONF"
start cinder-backup-b cinder-backup --config-file "$CONF" --config-file "$ETC/cinder-backup-b.conf"
start cinder-api cinder-api --config-file "$CONF"
start cinder-api-noauth cinder-api --config-file "$CONF" --config-file "$ETC/cinder-api-noauth.conf"
say "Cinder services starting"

# ------------------------------------------------- Keystone: users, catalog --
admin_identity=$(printf '{"methods":["password"],"password":{"user":{"name":"admin","domain":{"name":"Default"},"password":"%s"}}}' "$ADMIN_PASSWORD")
wait_for "Keystone on :$KEYSTONE_PORT" 90 ks_token "$admin_identity"
tc=$(now)
# One python process (openstacksdk) instead of a dozen CLI calls of ~2 s each.
# Prints shell assignments: PROJECT_ID, USER_ID, APPCRED_ID, APPCRED_SECRET.
KS_OUT=$(
  OS_AUTH_URL=$KS_URL ADMIN_PASSWORD=$ADMIN_PASSWORD SERVICE_PASSWORD=$SERVICE_PASSWORD \
  USER_PASSWORD=$USER_PASSWORD TEST_PROJECT=$TEST_PROJECT TEST_USER=$TEST_USER \
  TEST_ROLES=$TEST_ROLES REGION=$REGION API_PORT=$API_PORT \
  /usr/bin/python3 - 2>>"$LOG/keystone/setup.log" <<'PY'
import os, shlex, openstack
e = os.environ
def connect(user, password, project):
    return openstack.connect(auth_url=e['OS_AUTH_URL'], username=user, password=password,
                             project_name=project, user_domain_name='Default',
                             project_domain_name='Default', region_name=e['REGION'],
                             identity_api_version='3')
idn = connect('admin', e['ADMIN_PASSWORD'], 'admin').identity
roles = {r.name: r for r in idn.roles()}   # one list instead of a 404 + a search per name
def role(name):
    if name not in roles:
        roles[name] = idn.create_role(name=name)
    return roles[name]
# The service user cinder-api validates tokens with.
service = idn.create_project(name='service', domain_id='default')
cinder = idn.create_user(name='cinder', password=e['SERVICE_PASSWORD'], domain_id='default',
                         default_project_id=service.id)
for r in ('admin', 'service'):
    idn.assign_project_role_to_user(service, cinder, role(r))
url = 'http://127.0.0.1:%s/v3/%%(project_id)s' % e['API_PORT']
for stype, name in (('volumev3', 'cinderv3'), ('block-storage', 'cinder')):
    svc = idn.create_service(name=name, type=stype, description='Cinder (test bed)')
    for iface in ('public', 'internal', 'admin'):
        idn.create_endpoint(service_id=svc.id, interface=iface, url=url, region_id=e['REGION'])
# The test project and user the driver's tests run as.
project = idn.create_project(name=e['TEST_PROJECT'], domain_id='default')
user = idn.create_user(name=e['TEST_USER'], password=e['USER_PASSWORD'], domain_id='default',
                       default_project_id=project.id)
for r in e['TEST_ROLES'].split():
    idn.assign_project_role_to_user(project, user, role(r))
# An application credential is created by its user, not by an admin.
me = connect(e['TEST_USER'], e['USER_PASSWORD'], e['TEST_PROJECT']).identity
ac = me.create_application_credential(user=user.id, name='csi-test',
                                      description='cinder-csi tests (test/cinder/up.sh)')
for k, v in (('PROJECT_ID', project.id), ('USER_ID', user.id),
             ('APPCRED_ID', ac.id), ('APPCRED_SECRET', ac.secret)):
    print('%s=%s' % (k, shlex.quote(v)))
PY
) || die "Keystone setup failed; see $LOG/keystone/setup.log"
eval "$KS_OUT"
umask 077
cat >"$RUN/state.env" <<EOF
PROJECT_ID=$PROJECT_ID
USER_ID=$USER_ID
USER_PASSWORD=$USER_PASSWORD
APPCRED_ID=$APPCRED_ID
APPCRED_SECRET=$APPCRED_SECRET
ADMIN_PASSWORD=$ADMIN_PASSWORD
EOF
umask 022
timing "keystone users + catalog" "$(since "$tc")"
say "Keystone ready: project $TEST_PROJECT ($PROJECT_ID), user $TEST_USER, application credential, catalog"

# ---------------------------------------------- Cinder: types, quota, ready --
wait_for "cinder-api (noauth) on :$NOAUTH_PORT" 120 noauth GET /types
for t in standard fast; do
  noauth POST /types "{\"volume_type\":{\"name\":\"$t\",\"description\":\"$t volumes (test bed)\",\"os-volume-type-access:is_public\":true,\"extra_specs\":{\"volume_backend_name\":\"$BACKEND\"}}}" \
    >/dev/null || die "creating volume type $t failed"
done
noauth PUT "/os-quota-sets/$PROJECT_ID" \
  '{"quota_set":{"volumes":-1,"gigabytes":-1,"snapshots":-1,"backups":-1,"backup_gigabytes":-1,"per_volume_gigabytes":-1,"groups":-1}}' \
  >/dev/null || die "setting unlimited quotas failed"
ensure_group_types
say "volume types standard (default) + fast; group types csi-generic (default) + csi-consistent; quotas of $TEST_PROJECT unlimited"

services_up() {
  noauth GET /os-services | jq -e '[.services[] | select(.state=="up" and .status=="enabled") | .binary]
    | (index("cinder-scheduler") != null) and (map(select(. == "cinder-volume")) | length == 2)
      and (map(select(. == "cinder-backup")) | length == 2)'
}
pools_visible() { noauth GET /scheduler-stats/get_pools | jq -e '.pools | length > 1'; }
wait_for "scheduler, two volume and two backup services up" 180 services_up
timing "Cinder services up" "$(since "$T_START")"
wait_for "the scheduler to see the $BACKEND and $BACKEND_B pools" 120 pools_visible
timing "pool visible" "$(since "$T_START")"

# Keystone path end to end: token, catalog, Cinder accepting the token.
ks_token "$(user_identity)" "$(user_scope)" || die "no token for $TEST_USER"
EP=$(jq -r --arg r "$REGION" '.token.catalog[] | select(.type=="volumev3") | .endpoints[]
  | select(.interface=="public" and .region_id==$r) | .url' <<<"$TOKEN_BODY")
[[ $EP == "http://127.0.0.1:$API_PORT/v3/$PROJECT_ID" ]] || die "unexpected volumev3 endpoint in the catalog: $EP"
wait_for "cinder-api (Keystone) on :$API_PORT" 60 \
  curl -sf -o /dev/null -H "X-Auth-Token: $TOKEN" -H "$MV" "$EP/volumes"
ks_token "$(appcred_identity)" || die "no token for the application credential"
curl -sf -o /dev/null -H "X-Auth-Token: $TOKEN" -H "$MV" "$EP/volumes" ||
  die "cinder-api rejects the application credential's token"
timing "READY" "$(since "$T_START")"

# --------------------------------------------------------------- clouds.yaml --
write_clouds_yaml
touch "$RUN/ready"
mem=$(memory_of_all)
printf '%-32s %7s MiB\n' "RSS, all processes" "${mem% *}" "PSS, all processes" "${mem#* }" >>"$LOG/timings.txt"
summary "UP (cold start: $(since "$T_START")s after the packages were in place)"
