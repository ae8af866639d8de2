#!/usr/bin/env bash
# nova-down.sh: stop what nova-up.sh started and undo its registrations, but
# leave the Cinder test bed (Cinder, Keystone, RabbitMQ, MariaDB) running:
#
#  * stops exactly the processes recorded in $BASE/run/ for nova-api,
#    nova-conductor, nova-scheduler, both nova-computes, placement-api and the
#    Neutron stub (their descendants, and orphans in the same session);
#  * if Keystone and Cinder still run: deletes the Cinder attachments Nova
#    made (those that name a server), so that no volume stays in-use for a
#    server that no longer exists (the volumes themselves stay);
#  * if MariaDB still runs: drops the databases nova_api, nova_cell0, nova and
#    placement and their users;
#  * if Keystone still runs: removes the compute and placement services (and so
#    their endpoints) from the catalog, and the users nova and placement;
#  * deletes $BASE/nova (configuration, state); the logs stay in $BASE/log.
#
# down.sh stops the Nova processes too (first), so `make openstack-down` is
# down.sh. Safe to run at any time, also when nothing of Nova is running.
set -uo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

say() { printf '[nova-down] %s\n' "$*"; }
[[ $(id -u) == 0 ]] || { say "must run as root"; exit 1; }
T0=$(now)
[[ -d $BASE ]] || { say "nothing to do: $BASE does not exist"; exit 0; }
[[ ${CINDER_TEST_LOCKED:-} == 1 ]] || with_lock
BASE=$(realpath "$BASE")
RUN=$BASE/run
KS_URL=http://127.0.0.1:$KEYSTONE_PORT/v3

rm -f "$RUN/nova-ready" "$RUN/nova-settings"
for n in "${NOVA_PROCS[@]}"; do stop_recorded "$n" & done
wait

# Cinder: attachments Nova made (they name a server) outlive Nova's database
# and would keep their volumes in-use. Delete them as the nova service user
# (roles admin + service; its token also as X-Service-Token, which is what
# lets Cinder delete an attachment of a server since OSSA-2023-003).
NOVA_CONF=$BASE/nova/etc/nova.conf
if [[ -f $NOVA_CONF ]] && pid_of keystone >/dev/null && pid_of cinder-api >/dev/null; then
  npw=$(awk -F' = ' '/^\[/{s=$0} s=="[keystone_authtoken]" && $1=="password"{print $2; exit}' "$NOVA_CONF")
  hdr=$(mktemp)
  if body=$(curl -sf -m 20 -D "$hdr" -H 'Content-Type: application/json' -d "$(jq -nc --arg p "$npw" \
      '{auth:{identity:{methods:["password"],password:{user:{name:"nova",domain:{name:"Default"},password:$p}}},
        scope:{project:{name:"service",domain:{name:"Default"}}}}}')" "$KS_URL/auth/tokens"); then
    tok=$(awk -F': ' 'tolower($1)=="x-subject-token"{print $2}' "$hdr" | tr -d '\r')
    url=http://127.0.0.1:$API_PORT/v3/$(jq -r .token.project.id <<<"$body")
    cv() { curl -sf -m 30 -X "$1" -H "X-Auth-Token: $tok" -H "X-Service-Token: $tok" \
      -H 'OpenStack-API-Version: volume 3.70' "$url$2"; }
    for a in $(cv GET '/attachments?all_tenants=1' | jq -r '.attachments[] | select(.instance != null) | "\(.id):\(.volume_id)"'); do
      if cv DELETE "/attachments/${a%%:*}" >/dev/null; then
        say "deleted Nova's Cinder attachment ${a%%:*} (volume ${a#*:})"
      else
        say "could not delete Cinder attachment ${a%%:*} (volume ${a#*:})"
      fi
    done
  fi
  rm -f "$hdr"
fi

# MariaDB: only through the socket of the one up.sh started.
SOCK=$BASE/mysql/mysqld.sock
if pid_of mariadb >/dev/null && [[ -S $SOCK ]]; then
  if mariadb --no-defaults -uroot --socket="$SOCK" -e "
      DROP DATABASE IF EXISTS nova_api; DROP DATABASE IF EXISTS nova_cell0;
      DROP DATABASE IF EXISTS nova; DROP DATABASE IF EXISTS placement;
      DROP USER IF EXISTS 'nova'@'127.0.0.1'; DROP USER IF EXISTS 'placement'@'127.0.0.1';"; then
    say "dropped the databases nova_api, nova_cell0, nova, placement"
  else
    say "could not drop the Nova databases (ignored)"
  fi
fi

# Keystone: the catalog entries and service users nova-up.sh made.
if pid_of keystone >/dev/null && [[ -f $RUN/state.env ]]; then
  # shellcheck disable=SC1091
  ADMIN_PASSWORD=$(. "$RUN/state.env"; echo "$ADMIN_PASSWORD")
  hdr=$(mktemp)
  if curl -sf -m 20 -o /dev/null -D "$hdr" -H 'Content-Type: application/json' -d "$(jq -nc --arg p "$ADMIN_PASSWORD" \
      '{auth:{identity:{methods:["password"],password:{user:{name:"admin",domain:{name:"Default"},password:$p}}},
        scope:{project:{name:"admin",domain:{name:"Default"}}}}}')" "$KS_URL/auth/tokens"; then
    tok=$(awk -F': ' 'tolower($1)=="x-subject-token"{print $2}' "$hdr" | tr -d '\r')
    ks() { curl -sf -m 20 -X "$1" -H "X-Auth-Token: $tok" "$KS_URL$2"; }
    for id in $(ks GET /services | jq -r '.services[] | select(.type=="compute" or .type=="placement") | .id'); do
      ks DELETE "/services/$id" && say "removed service $id from the catalog"
    done
    for u in nova placement; do
      for id in $(ks GET "/users?name=$u&domain_id=default" | jq -r '.users[].id'); do
        ks DELETE "/users/$id" && say "removed Keystone user $u"
      done
    done
  else
    say "Keystone does not answer; catalog left as it is"
  fi
  rm -f "$hdr"
fi

rm -rf --one-file-system "$BASE/nova"
say "removed $BASE/nova (logs kept in $BASE/log)"
say "done in $(since "$T0")s"
