#!/usr/bin/env bash
# nova-up.sh: a real OpenStack Nova (Debian bookworm packages, "Zed") with the
# fake virt driver, plus Placement, on top of the Cinder test bed of up.sh:
# same Keystone, RabbitMQ and MariaDB, all on 127.0.0.1. `make openstack-up`
# runs up.sh, then this. Run as root; see README.md beside this file.
#
#   nova-api         127.0.0.1:8774  /v2.1; "compute" in the Keystone catalog
#   placement-api    127.0.0.1:8778  uwsgi; "placement" in the catalog
#   neutron stub     127.0.0.1:9696  NOT Neutron: two static JSON answers
#                                    ("no ports", "no networks") that Nova asks for
#                                    even for servers with "networks": "none"
#   nova-conductor, nova-scheduler, two nova-computes (compute_driver =
#   fake.FakeDriver): host nova-csi-test in zone nova (where servers go unless asked),
#   host nova-csi-test-b in zone zone-b (an aggregate), the zones of up.sh's two
#   Cinder backends; databases nova_api, nova_cell0, nova, placement in MariaDB
#
# The clouds of clouds.yaml reach Nova through the catalog. Flavor "1" (m1.tiny:
# 1 vCPU, 64 MiB, 0 GiB disk) is for servers that boot from a Cinder volume;
# there is no Glance and no Neutron.
#
# Re-runnable: when Nova is up and answering it only checks and prints the
# summary; after a crash it cleans up with nova-down.sh and starts Nova again
# (Cinder, Keystone, RabbitMQ and MariaDB keep running). If the Cinder test bed
# is not up, it runs up.sh first. Knobs: see lib.sh, and
#   NOVA_TEST_DRIVER=fake.FakeDriver   or fake.SmallFakeDriver, ...
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

T0=$(now) UP_NAME=nova-up DOWN_SCRIPT=nova-down.sh TIMINGS=nova-timings.txt
[[ $(id -u) == 0 ]] || die "must run as root (it installs packages and starts services)"

# Cinder, Keystone, RabbitMQ and MariaDB first (up.sh takes the lock itself).
if [[ ! -f $BASE/run/ready || ! -f $BASE/run/state.env ]]; then
  say "the Cinder test bed is not up: running up.sh first"
  bash "$TEST_DIR/up.sh"
fi
mkdir -p "$BASE"
with_lock
export CINDER_TEST_LOCKED=1
BASE=$(realpath "$BASE")
RUN=$BASE/run LOG=$BASE/log NBASE=$BASE/nova
NETC=$NBASE/etc
[[ -f $RUN/ready && -f $RUN/state.env ]] || die "the Cinder test bed is not up (no $RUN/ready): run make cinder-up"
# shellcheck disable=SC1091
source "$RUN/state.env"   # PROJECT_ID, USER_PASSWORD, ADMIN_PASSWORD, ...
KS_URL=http://127.0.0.1:$KEYSTONE_PORT/v3
NOVA_URL=http://127.0.0.1:$NOVA_PORT/v2.1
PLACEMENT_URL=http://127.0.0.1:$PLACEMENT_PORT
SOCK=$BASE/mysql/mysqld.sock
NV='OpenStack-API-Version: compute 2.88'
PV='OpenStack-API-Version: placement 1.39'

# ------------------------------------------------------------------ helpers --
# admin_token: a token of Keystone's admin in project admin -> ADMIN_TOKEN
admin_token() {
  local hdr; hdr=$(mktemp)
  curl -sf -o /dev/null -D "$hdr" -H 'Content-Type: application/json' -d "$(jq -nc --arg p "$ADMIN_PASSWORD" \
    '{auth:{identity:{methods:["password"],password:{user:{name:"admin",domain:{name:"Default"},password:$p}}},
      scope:{project:{name:"admin",domain:{name:"Default"}}}}}')" "$KS_URL/auth/tokens" || { rm -f "$hdr"; return 1; }
  ADMIN_TOKEN=$(awk -F': ' 'tolower($1)=="x-subject-token"{print $2}' "$hdr" | tr -d '\r')
  rm -f "$hdr"
}
# as_admin METHOD URL [JSON]: an admin call; body on stdout, non-2xx fails
as_admin() {
  curl -sf -X "$1" -H "X-Auth-Token: $ADMIN_TOKEN" -H "$NV" -H "$PV" -H 'Content-Type: application/json' \
    ${3:+-d "$3"} "$2"
}
nova_services_up() {
  as_admin GET "$NOVA_URL/os-services" | jq -e '[.services[] | select(.state=="up" and .status=="enabled") | .binary]
    | (index("nova-conductor") != null) and (index("nova-scheduler") != null)
      and (map(select(. == "nova-compute")) | length == 2)'
}
compute_visible() {   # each fake host has a resource provider and a cell mapping
  local h
  for h in "$NOVA_HOST" "$NOVA_HOST_B"; do
    as_admin GET "$PLACEMENT_URL/resource_providers?name=$h" | jq -e '.resource_providers | length == 1' >/dev/null &&
    [[ $(sql -N -e "SELECT COUNT(*) FROM nova_api.host_mappings WHERE host='$h'") == 1 ]] || return 1
  done
}
zone_b_up() {   # the aggregate puts the second host in $ZONE_B
  as_admin GET "$NOVA_URL/os-availability-zone" | jq -e --arg z "$ZONE_B" \
    '[.availabilityZoneInfo[] | select(.zoneName == $z and .zoneState.available)] | length == 1' >/dev/null
}
nova_mem() {   # "RSS PSS" in MiB of the Nova processes and their descendants
  memory_of "${NOVA_PROCS[@]}"
}
summary() {
  local mem all; mem=$(nova_mem); all=$(memory_of_all)
  cat <<EOF
---------------------------------------------------------------- local Nova
$1 in $(since "$T0")s
  Nova            $NOVA_URL   (catalog type compute; hosts $NOVA_HOST in $ZONE_A, $NOVA_HOST_B in $ZONE_B; fake.FakeDriver)
  Placement       $PLACEMENT_URL   (catalog type placement)
  Neutron stub    http://127.0.0.1:$NEUTRON_STUB_PORT   (static "no ports"/"no networks"; not in the catalog)
  flavor          1 (m1.tiny: 1 vCPU, 64 MiB RAM, 0 GiB disk): boot from a bootable volume, "networks": "none"
  clouds.yaml     $CLOUDS_YAML  (cloud local: compute endpoint in its catalog)
  memory          Nova+Placement RSS ${mem% *} MiB, PSS ${mem#* } MiB; everything RSS ${all% *} MiB, PSS ${all#* } MiB
  logs            $LOG   (timings: $LOG/nova-timings.txt)
  try             bash $TEST_DIR/nova-check.sh
  stop            bash $TEST_DIR/nova-down.sh (Nova only), bash $TEST_DIR/down.sh (everything)
EOF
}

# ------------------------------------------------------------ already up? --
# The settings this script writes; a bed started with other ones is restarted.
NOVA_SETTINGS="max_disk_devices_to_attach=${NOVA_TEST_MAX_DISKS:-4} zones=$ZONE_A,$ZONE_B"
already_up() {
  [[ -f $RUN/nova-ready && -d $NBASE ]] || return 1
  [[ $(cat "$RUN/nova-settings" 2>/dev/null) == "$NOVA_SETTINGS" ]] || { say "started with other settings"; return 1; }
  local n
  for n in "${NOVA_PROCS[@]}"; do
    pid_of "$n" >/dev/null || { say "$n is not running"; return 1; }
  done
  admin_token || { say "Keystone does not answer"; return 1; }
  nova_services_up >/dev/null || { say "nova-api does not answer, or a Nova service is down"; return 1; }
  zone_b_up || { say "no compute host in $ZONE_B"; return 1; }
  as_admin GET "$PLACEMENT_URL/resource_providers" >/dev/null || { say "placement-api does not answer"; return 1; }
  curl -sf -o /dev/null "http://127.0.0.1:$NEUTRON_STUB_PORT/v2.0/ports" || { say "the Neutron stub does not answer"; return 1; }
}
if already_up; then
  summary "already up: checked"
  exit 0
fi

# ----------------------------------------------------------------- leftovers --
leftover=0
[[ -e $NBASE || -e $RUN/nova-ready ]] && leftover=1
for n in "${NOVA_PROCS[@]}"; do [[ -e $RUN/$n.pid ]] && leftover=1; done
if ((leftover)); then
  say "leftovers of an earlier Nova start: cleaning up with nova-down.sh"
  bash "$TEST_DIR/nova-down.sh" | sed 's/^/    /'
fi
for p in $NOVA_PORT $PLACEMENT_PORT $NEUTRON_STUB_PORT; do
  port_open "$p" && die "127.0.0.1:$p is in use by a process this script did not start (see: ss -ltnp)"
done

# ----------------------------------------------------------------- packages --
PACKAGES=(
  nova-api nova-conductor nova-scheduler nova-compute placement-api
  nova-compute-ironic   # nova-compute needs a nova-compute-hypervisor; this one pulls no libvirt/qemu
  python3-novaclient python3-osc-placement
)
install_missing apt-nova.log "about a minute" "\
nova-common nova/configure_db boolean false
nova-common nova/configure_rabbit boolean false
nova-common nova/configure_ksat boolean false
nova-common nova/configure_neutron boolean false
nova-common nova/configure_placement boolean false
nova-api novaapi/configure_db boolean false
nova-api nova/configure_api-endpoint boolean false
placement-common placement/configure_db boolean false
placement-common placement/configure_ksat boolean false
placement-api placement/configure_api-endpoint boolean false" "${PACKAGES[@]}"

# -------------------------------------------------------------- layout/config --
T_START=$(now)
rm -rf "$LOG/placement" "$LOG/nova-timings.txt"
rm -f "$LOG"/nova-*.log "$LOG"/nova-*.out "$LOG"/placement-api.out "$LOG"/neutron-stub.out
mkdir -p "$NETC/placement" "$NBASE"/{state/instances,lock,neutron-stub/v2.0} "$LOG/placement"
chmod 700 "$NETC"
timing "apt-get (0 = nothing missing)" "$INSTALL_SECS"
NOVA_DB_PASSWORD=$(secret) PLACEMENT_DB_PASSWORD=$(secret) NOVA_PASSWORD=$(secret) PLACEMENT_PASSWORD=$(secret)
DB=mysql+pymysql://nova:$NOVA_DB_PASSWORD@127.0.0.1:$MYSQL_PORT

ks_auth() {  # ks_auth USER PASSWORD: keystoneauth password options of a service user
  cat <<EOF
auth_type = password
auth_url = $KS_URL
project_domain_name = Default
user_domain_name = Default
project_name = service
username = $1
password = $2
EOF
}
NOVA_CONF=$NETC/nova.conf
cat >"$NOVA_CONF" <<EOF
[DEFAULT]
host = $NOVA_HOST
my_ip = 127.0.0.1
state_path = $NBASE/state
log_dir = $LOG
debug = ${CINDER_TEST_DEBUG:-false}
transport_url = rabbit://guest:guest@127.0.0.1:$RABBIT_PORT/
compute_driver = ${NOVA_TEST_DRIVER:-fake.FakeDriver}
# A server asked for without a zone goes to $ZONE_A's host, as before the second one.
default_schedule_zone = $ZONE_A
enabled_apis = osapi_compute
osapi_compute_listen = 127.0.0.1
osapi_compute_listen_port = $NOVA_PORT
osapi_compute_workers = 1
rootwrap_config = /etc/nova/rootwrap.conf
# Stop in seconds; report soon after start; notice a dead service in 30 s.
graceful_shutdown_timeout = 5
periodic_fuzzy_delay = 0
report_interval = 5
service_down_time = 30
# Nothing to heal without Neutron (and it would ask the stub every minute).
heal_instance_info_cache_interval = -1
instance_usage_audit = false
allow_resize_to_same_host = true

[api]
auth_strategy = keystone

[wsgi]
api_paste_config = /etc/nova/api-paste.ini

[api_database]
connection = $DB/nova_api?charset=utf8

[database]
connection = $DB/nova?charset=utf8

[conductor]
workers = 1

[scheduler]
workers = 1
# Maps the compute host into cell1 by itself (no "nova-manage cell_v2 discover_hosts").
discover_hosts_in_cells_interval = 2

[oslo_concurrency]
lock_path = $NBASE/lock

[oslo_messaging_notifications]
driver = noop

[vnc]
enabled = false

[keystone_authtoken]
www_authenticate_uri = $KS_URL
$(ks_auth nova "$NOVA_PASSWORD")
region_name = $REGION
service_token_roles_required = true

[service_user]
# Mandatory: since the OSSA-2023-003 fix Cinder refuses (409) to delete an
# attachment of a server unless the request carries a service token; without
# it a detach through Nova leaves the volume "detaching".
send_service_user_token = true
$(ks_auth nova "$NOVA_PASSWORD")

[placement]
$(ks_auth nova "$NOVA_PASSWORD")
region_name = $REGION
valid_interfaces = public

[cinder]
$(ks_auth nova "$NOVA_PASSWORD")
os_region_name = $REGION
catalog_info = volumev3::publicURL

[compute]
# Four disks a server: its boot volume and three more. The Nova tests run the
# driver with --max-volumes-per-node=3 and prove Nova refuses the fourth (403
# TooManyDiskDevices -> ResourceExhausted), which nova-compute checks even with
# the fake virt driver.
max_disk_devices_to_attach = ${NOVA_TEST_MAX_DISKS:-4}

[glance]
# There is no Glance, but nova-compute's legacy usage notification formats an
# image URL on every build and fails it with EndpointNotFound without this.
# Nothing ever connects to it.
api_servers = http://127.0.0.1:9292

[neutron]
# The static stub: GET /servers/{id} asks Neutron for the server's ports
# (security groups) and a server delete lists ports and networks, even with
# "networks": "none". Nova builds its admin client from these options.
$(ks_auth nova "$NOVA_PASSWORD")
region_name = $REGION
endpoint_override = http://127.0.0.1:$NEUTRON_STUB_PORT
EOF
# nova-compute: the same minus the databases (with them it logs "No DB access
# allowed in nova-compute" at start).
awk '/^\[/{skip=($0=="[api_database]" || $0=="[database]")} !skip' "$NOVA_CONF" >"$NETC/nova-compute.conf"
# The second compute host, of $ZONE_B: the same but its name.
sed "s/^host = $NOVA_HOST\$/host = $NOVA_HOST_B/" "$NETC/nova-compute.conf" >"$NETC/nova-compute-b.conf"
cat >"$NETC/placement/placement.conf" <<EOF
[DEFAULT]
debug = ${CINDER_TEST_DEBUG:-false}
log_dir = $LOG/placement

[api]
auth_strategy = keystone

[placement_database]
connection = mysql+pymysql://placement:$PLACEMENT_DB_PASSWORD@127.0.0.1:$MYSQL_PORT/placement?charset=utf8

[keystone_authtoken]
www_authenticate_uri = $KS_URL
$(ks_auth placement "$PLACEMENT_PASSWORD")
region_name = $REGION
service_token_roles_required = true
EOF
chmod 600 "$NOVA_CONF" "$NETC/nova-compute.conf" "$NETC/nova-compute-b.conf" "$NETC/placement/placement.conf"

# Neutron stub: NOT Neutron, two static files (http.server ignores query strings).
echo '{"ports": []}' >"$NBASE/neutron-stub/v2.0/ports"
echo '{"networks": []}' >"$NBASE/neutron-stub/v2.0/networks"

# ------------------------------------------------------------------ MariaDB --
# utf8 (3-byte), as devstack creates Nova's and Placement's databases.
sql <<SQL || die "creating the Nova databases failed (is MariaDB up? make cinder-up)"
DROP DATABASE IF EXISTS nova_api; DROP DATABASE IF EXISTS nova_cell0;
DROP DATABASE IF EXISTS nova; DROP DATABASE IF EXISTS placement;
CREATE DATABASE nova_api CHARACTER SET utf8; CREATE DATABASE nova_cell0 CHARACTER SET utf8;
CREATE DATABASE nova CHARACTER SET utf8; CREATE DATABASE placement CHARACTER SET utf8;
DROP USER IF EXISTS 'nova'@'127.0.0.1'; DROP USER IF EXISTS 'placement'@'127.0.0.1';
CREATE USER 'nova'@'127.0.0.1' IDENTIFIED BY '$NOVA_DB_PASSWORD';
CREATE USER 'placement'@'127.0.0.1' IDENTIFIED BY '$PLACEMENT_DB_PASSWORD';
GRANT ALL PRIVILEGES ON nova_api.* TO 'nova'@'127.0.0.1';
GRANT ALL PRIVILEGES ON nova_cell0.* TO 'nova'@'127.0.0.1';
GRANT ALL PRIVILEGES ON nova.* TO 'nova'@'127.0.0.1';
GRANT ALL PRIVILEGES ON placement.* TO 'placement'@'127.0.0.1';
SQL
say "databases nova_api, nova_cell0, nova, placement created"

# --------------------------------------- setup, overlapped (each ~3 s of imports) --
# Keystone: the service users nova and placement (roles admin and service: the
# "service" role makes their tokens service tokens for Cinder), and the compute
# and placement services in the catalog. One openstacksdk process.
tk=$(now)
OS_AUTH_URL=$KS_URL ADMIN_PASSWORD=$ADMIN_PASSWORD NOVA_PASSWORD=$NOVA_PASSWORD \
PLACEMENT_PASSWORD=$PLACEMENT_PASSWORD REGION=$REGION NOVA_URL=$NOVA_URL PLACEMENT_URL=$PLACEMENT_URL \
/usr/bin/python3 - >"$LOG/nova-keystone.log" 2>&1 <<'PY' &
import os, openstack
from concurrent.futures import ThreadPoolExecutor
e = os.environ
idn = openstack.connect(auth_url=e['OS_AUTH_URL'], username='admin', password=e['ADMIN_PASSWORD'],
                        project_name='admin', user_domain_name='Default', project_domain_name='Default',
                        region_name=e['REGION'], identity_api_version='3').identity
# Keystone (2 uwsgi workers) takes 0.4-1 s a request: two at a time.
pool = ThreadPoolExecutor(2)
roles_f = pool.submit(lambda: {r.name: r for r in idn.roles()})
service_f = pool.submit(lambda: next(iter(idn.projects(name='service', domain_id='default')), None))
roles, service = roles_f.result(), service_f.result()
service = service or idn.create_project(name='service', domain_id='default')
for r in ('admin', 'service'):
    if r not in roles:
        roles[r] = idn.create_role(name=r)
old_services = [s for s in idn.services() if s.type in ('compute', 'placement')]
def user(name):
    for old in idn.users(name=name, domain_id='default'):
        idn.delete_user(old)
    u = idn.create_user(name=name, password=e[name.upper() + '_PASSWORD'], domain_id='default',
                        default_project_id=service.id)
    for r in ('admin', 'service'):
        idn.assign_project_role_to_user(service, u, roles[r])
def catalog(stype, name, url):
    for old in old_services:
        if old.type == stype:
            idn.delete_service(old)   # Keystone deletes its endpoints with it
    svc = idn.create_service(name=name, type=stype, description='%s (test bed)' % name)
    for iface in ('public', 'internal', 'admin'):
        idn.create_endpoint(service_id=svc.id, interface=iface, url=url, region_id=e['REGION'])
jobs = [pool.submit(user, 'nova'), pool.submit(user, 'placement'),
        pool.submit(catalog, 'compute', 'nova', e['NOVA_URL']),
        pool.submit(catalog, 'placement', 'placement', e['PLACEMENT_URL'])]
for j in jobs:
    j.result()
print('keystone: users nova, placement; catalog compute, placement')
PY
KS_JOB=$!

# Nova's cells v2 databases: the four nova-manage steps in ONE python process
# (each nova-manage spends ~3 s importing); the plain CLI if that ever breaks.
tn=$(now)
nova_db() {
  /usr/bin/python3 - "$NOVA_CONF" "$DB/nova_cell0?charset=utf8" <<'PY' && return
import functools, sys
from oslo_config import cfg
from nova import config
from nova.cmd import manage
conf, cell0 = sys.argv[1], sys.argv[2]
for step in (['api_db', 'sync'],
             ['cell_v2', 'map_cell0', '--database_connection', cell0],
             ['cell_v2', 'create_cell', '--name', 'cell1', '--verbose'],
             ['db', 'sync']):                      # cell1 ([database]) and cell0
    sys.argv = ['nova-manage', '--config-file', conf] + step
    rc = manage.main()
    print('nova-manage %s -> %s' % (' '.join(step), rc), flush=True)
    if rc not in (0, None):
        sys.exit(1)
    cfg.CONF.clear()   # let the next main() parse its own argv
    # oslo.db's engine facades may be configured only once per process
    manage.config.parse_args = functools.partial(config.parse_args, configure_db=False)
PY
  echo "one-process nova-manage failed; the plain CLI instead"
  sql -e 'DROP DATABASE nova_api; DROP DATABASE nova_cell0; DROP DATABASE nova;
    CREATE DATABASE nova_api CHARACTER SET utf8; CREATE DATABASE nova_cell0 CHARACTER SET utf8;
    CREATE DATABASE nova CHARACTER SET utf8;' || return 1
  local NM=(nova-manage --config-file "$NOVA_CONF")
  "${NM[@]}" api_db sync &&
  "${NM[@]}" cell_v2 map_cell0 --database_connection "$DB/nova_cell0?charset=utf8" &&
  "${NM[@]}" cell_v2 create_cell --name cell1 --verbose &&
  "${NM[@]}" db sync
}
nova_db >"$LOG/nova-manage.out" 2>&1 &
NOVA_DB_JOB=$!

tp=$(now)
placement-manage --config-file "$NETC/placement/placement.conf" db sync >"$LOG/placement-manage.out" 2>&1 ||
  die "placement-manage db sync failed; see $LOG/placement-manage.out"
timing "placement db sync" "$(since "$tp")"
# One uwsgi process, one thread, and the uwsgi rules of Keystone in up.sh.
start placement-api uwsgi --plugin python3 --http-socket "127.0.0.1:$PLACEMENT_PORT" \
  --wsgi-file /usr/bin/placement-api --master --lazy-apps --processes 1 --threads 1 \
  --die-on-term --need-app --add-header 'Connection: close' \
  --env "OS_PLACEMENT_CONFIG_DIR=$NETC/placement" --logto "$LOG/placement/uwsgi.log"
start neutron-stub /usr/bin/python3 -m http.server --bind 127.0.0.1 \
  --directory "$NBASE/neutron-stub" "$NEUTRON_STUB_PORT"
say "placement-api and the Neutron stub starting"

wait "$NOVA_DB_JOB" || { tail -20 "$LOG/nova-manage.out"; die "Nova's database setup failed; see $LOG/nova-manage.out"; }
timing "nova databases (cells v2)" "$(since "$tn")"
start nova-api nova-api --config-file "$NOVA_CONF"
say "Nova databases ready; nova-api starting"

wait "$KS_JOB" || { tail -20 "$LOG/nova-keystone.log"; die "Keystone setup failed; see $LOG/nova-keystone.log"; }
timing "keystone users + catalog" "$(since "$tk")"
say "Keystone: service users nova + placement, catalog compute + placement"
# Only now: nova-conductor and nova-scheduler exit at start if Keystone
# rejects the nova user (placement client), and nova-compute would retry its
# first resource report only a minute later.
start nova-conductor nova-conductor --config-file "$NOVA_CONF"
start nova-scheduler nova-scheduler --config-file "$NOVA_CONF"
# nova-compute pings the conductor ~1 s after its start; a ping sent before the
# conductor's queue exists is lost and costs a 10 s timeout. The conductor
# starts consuming right after it has written its service record.
conductor_registered() {
  [[ $(sql -N -e "SELECT COUNT(*) FROM nova.services WHERE \`binary\`='nova-conductor' AND deleted=0") -ge 1 ]]
}
wait_for "nova-conductor's service record" 90 conductor_registered
start nova-compute nova-compute --config-file "$NETC/nova-compute.conf"
start nova-compute-b nova-compute --config-file "$NETC/nova-compute-b.conf"
say "nova-conductor, nova-scheduler, nova-compute ($NOVA_HOST, $NOVA_HOST_B) starting"

# ---------------------------------------------------------------- readiness --
admin_token || die "no admin token from Keystone"
wait_for "placement-api on :$PLACEMENT_PORT" 90 as_admin GET "$PLACEMENT_URL/resource_providers"
wait_for "the Neutron stub on :$NEUTRON_STUB_PORT" 30 curl -sf -o /dev/null "http://127.0.0.1:$NEUTRON_STUB_PORT/v2.0/ports"
wait_for "nova-api on :$NOVA_PORT" 120 as_admin GET "$NOVA_URL/flavors"
timing "APIs answering" "$(since "$T_START")"
wait_for "nova-conductor, nova-scheduler and both nova-computes up" 180 nova_services_up
timing "nova services up" "$(since "$T_START")"
wait_for "$NOVA_HOST and $NOVA_HOST_B in placement and mapped to cell1" 120 compute_visible
timing "compute hosts usable" "$(since "$T_START")"
say "Nova services up; $NOVA_HOST and $NOVA_HOST_B have resource providers and cell mappings"
agg=$(as_admin POST "$NOVA_URL/os-aggregates" "{\"aggregate\":{\"name\":\"$ZONE_B\",\"availability_zone\":\"$ZONE_B\"}}" | jq -r .aggregate.id) ||
  die "creating the $ZONE_B aggregate failed"
as_admin POST "$NOVA_URL/os-aggregates/$agg/action" "{\"add_host\":{\"host\":\"$NOVA_HOST_B\"}}" >/dev/null ||
  die "adding $NOVA_HOST_B to the $ZONE_B aggregate failed"
wait_for "Nova's zone $ZONE_B" 30 zone_b_up
say "zones: $ZONE_A ($NOVA_HOST, the default for servers), $ZONE_B ($NOVA_HOST_B)"

as_admin POST "$NOVA_URL/flavors" '{"flavor":{"name":"m1.tiny","id":"1","ram":64,"vcpus":1,"disk":0}}' >/dev/null ||
  die "creating flavor 1 failed"
as_admin PUT "$NOVA_URL/os-quota-sets/$PROJECT_ID" '{"quota_set":{"instances":-1,"cores":-1,"ram":-1}}' >/dev/null ||
  die "setting unlimited Nova quotas failed"
say "flavor 1 (m1.tiny, disk 0); Nova quotas of $TEST_PROJECT unlimited"

# The test user's view, as the clouds.yaml cloud "local" gets it: compute in
# the catalog, and Nova accepting the token.
hdr=$(mktemp)
body=$(curl -sf -D "$hdr" -H 'Content-Type: application/json' -d "$(jq -nc --arg u "$TEST_USER" --arg p "$USER_PASSWORD" --arg pid "$PROJECT_ID" \
  '{auth:{identity:{methods:["password"],password:{user:{name:$u,domain:{name:"Default"},password:$p}}},scope:{project:{id:$pid}}}}')" \
  "$KS_URL/auth/tokens") || die "no token for $TEST_USER"
utoken=$(awk -F': ' 'tolower($1)=="x-subject-token"{print $2}' "$hdr" | tr -d '\r'); rm -f "$hdr"
ep=$(jq -r --arg r "$REGION" '.token.catalog[] | select(.type=="compute") | .endpoints[]
  | select(.interface=="public" and .region_id==$r) | .url' <<<"$body")
[[ $ep == "$NOVA_URL" ]] || die "unexpected compute endpoint in $TEST_USER's catalog: '$ep'"
curl -sf -o /dev/null -H "X-Auth-Token: $utoken" -H "$NV" "$ep/flavors/1" || die "Nova rejects $TEST_USER's token"
timing "READY" "$(since "$T_START")"
touch "$RUN/nova-ready"
echo "$NOVA_SETTINGS" > "$RUN/nova-settings"
mem=$(nova_mem)
printf '%-32s %7s MiB\n' "RSS, Nova + Placement" "${mem% *}" "PSS, Nova + Placement" "${mem#* }" >>"$LOG/nova-timings.txt"
summary "UP (cold start: $(since "$T_START")s after the packages were in place)"
