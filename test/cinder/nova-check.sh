#!/usr/bin/env bash
# nova-check.sh: a quick proof that the Nova nova-up.sh started works with the
# Cinder of up.sh, through the clouds.yaml cloud "local" (the test user, role
# member), with curl only:
#   1. compute and volumev3 endpoints from the token's catalog;
#   2. a 1 GiB volume, made bootable; a server booted from it with
#      "networks": "none", no image, flavor 1 -> ACTIVE;
#   3. a second volume attached through Nova (POST os-volume_attachments):
#      Cinder shows it in-use with attachments[].server_id = the server;
#   4. Cinder refuses the user's own DELETE of that attachment (409: Nova owns it);
#   5. detached through Nova (DELETE os-volume_attachments/{volume}) -> available;
#   6. the server and both volumes deleted.
# Whatever it created is deleted on failure too. Exit 0 = all passed.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[[ -f $CLOUDS_YAML ]] || { echo "no $CLOUDS_YAML: run make openstack-up first" >&2; exit 1; }
ms() { date +%s%3N; }
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { printf '  %-50s %6d ms\n' "$1" "$(($(ms) - $2))"; }
T_ALL=$(ms)

CLOUDS_JSON=$(/usr/bin/python3 -c 'import sys, json, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))' "$CLOUDS_YAML")
cloud() { jq -er ".clouds.local$1" <<<"$CLOUDS_JSON"; }
hdr=$(mktemp)
body=$(curl -sf -D "$hdr" -H 'Content-Type: application/json' -d "$(jq -nc --arg u "$(cloud .auth.username)" \
  --arg p "$(cloud .auth.password)" --arg n "$(cloud .auth.project_name)" \
  '{auth:{identity:{methods:["password"],password:{user:{name:$u,domain:{name:"Default"},password:$p}}},
    scope:{project:{name:$n,domain:{name:"Default"}}}}}')" "$(cloud .auth.auth_url)/auth/tokens") ||
  fail "no token for cloud local"
TOKEN=$(awk -F': ' 'tolower($1)=="x-subject-token"{print $2}' "$hdr" | tr -d '\r'); rm -f "$hdr"
ep() { jq -r --arg t "$1" --arg r "$(cloud .region_name)" '.token.catalog[] | select(.type==$t) | .endpoints[]
  | select(.interface=="public" and .region_id==$r) | .url' <<<"$body"; }
NOVA=$(ep compute) CINDER=$(ep volumev3)
[[ -n $NOVA ]] || fail "no compute endpoint in the catalog of cloud local: is Nova up (make openstack-up)?"
echo "cloud local: compute $NOVA, volumev3 $CINDER"

LAST=$(mktemp)
# call nova|cinder METHOD PATH [JSON]: body on stdout; non-2xx fails
call() {
  local url hv code
  if [[ $1 == nova ]]; then url=$NOVA$3 hv='compute 2.89'; else url=$CINDER$3 hv='volume 3.70'; fi
  code=$(curl -sS -o "$LAST" -w '%{http_code}' -X "$2" -H "X-Auth-Token: $TOKEN" -H "OpenStack-API-Version: $hv" \
    -H 'Content-Type: application/json' ${4:+-d "$4"} "$url")
  [[ $code == 2* ]] || { echo "HTTP $code on $2 $url: $(cat "$LAST")" >&2; return 1; }
  cat "$LAST"
}
code_of() {  # code_of nova|cinder METHOD PATH: the HTTP code; body in $LAST
  local url hv
  if [[ $1 == nova ]]; then url=$NOVA$3 hv='compute 2.89'; else url=$CINDER$3 hv='volume 3.70'; fi
  curl -sS -o "$LAST" -w '%{http_code}' -X "$2" -H "X-Auth-Token: $TOKEN" -H "OpenStack-API-Version: $hv" "$url"
}
wait_vol() {  # wait_vol ID STATUS
  local t s; t=$(ms)
  while s=$(call cinder GET "/volumes/$1" | jq -r .volume.status); [[ $s != "$2" ]]; do
    [[ $s == error* ]] && fail "volume $1 went to $s (wanted $2)"
    (($(ms) - t > 120000)) && fail "volume $1 stuck in $s (wanted $2)"
    sleep 0.2
  done
}
wait_gone() {  # wait_gone nova|cinder PATH
  local t; t=$(ms)
  until [[ $(code_of "$1" GET "$2") == 404 ]]; do
    [[ $1 == nova ]] && [[ $(jq -r '.server.status // ""' "$LAST") == ERROR ]] && fail "server delete failed: $(jq -c .server.fault "$LAST")"
    (($(ms) - t > 120000)) && fail "$2 not deleted"
    sleep 0.2
  done
}
SID='' BOOT='' DATA=''
cleanup() {   # best effort, also after a failure
  local rc=$?
  if ((rc)); then
    echo "cleaning up after the failure (deleting the server detaches its volumes)"
    [[ -n $SID ]] && { code_of nova DELETE "/servers/$SID" >/dev/null; wait_gone nova "/servers/$SID" || true; }
    for v in $DATA $BOOT; do
      curl -s -o /dev/null -X DELETE -H "X-Auth-Token: $TOKEN" "$CINDER/volumes/$v" || true
    done
  fi
  rm -f "$LAST"
  exit "$rc"
}
trap cleanup EXIT

echo "== boot from volume, no network, no image"
t=$(ms)
BOOT=$(call cinder POST /volumes '{"volume":{"name":"nova-check-boot","size":1}}' | jq -r .volume.id)
wait_vol "$BOOT" available
# An empty volume is not bootable: nova-api would answer 400.
call cinder POST "/volumes/$BOOT/action" '{"os-set_bootable":{"bootable":true}}' >/dev/null
step "boot volume $BOOT available, bootable" "$t"
t=$(ms)
SID=$(call nova POST /servers "$(jq -nc --arg v "$BOOT" '{server:{name:"nova-check", flavorRef:"1", networks:"none",
  block_device_mapping_v2:[{boot_index:0, uuid:$v, source_type:"volume", destination_type:"volume", delete_on_termination:false}]}}')" |
  jq -r .server.id)
while s=$(call nova GET "/servers/$SID" | jq -r .server.status); [[ $s != ACTIVE ]]; do
  [[ $s == ERROR ]] && fail "server went to ERROR: $(call nova GET "/servers/$SID" | jq -c .server.fault)"
  (($(ms) - t > 120000)) && fail "server stuck in $s"
  sleep 0.2
done
step "server $SID ACTIVE" "$t"
call nova GET "/servers/$SID" | jq -c '.server | {status, host: .["OS-EXT-SRV-ATTR:host"], image, addresses,
  volumes: [.["os-extended-volumes:volumes_attached"][].id]}' | sed 's/^/    /'

echo "== attach a second volume through Nova"
DATA=$(call cinder POST /volumes '{"volume":{"name":"nova-check-data","size":1}}' | jq -r .volume.id)
wait_vol "$DATA" available
t=$(ms)
resp=$(call nova POST "/servers/$SID/os-volume_attachments" "{\"volumeAttachment\":{\"volumeId\":\"$DATA\"}}")
wait_vol "$DATA" in-use
step "POST os-volume_attachments -> Cinder in-use" "$t"
echo "    nova:   $(jq -c .volumeAttachment <<<"$resp")"
vol=$(call cinder GET "/volumes/$DATA")
echo "    cinder: $(jq -c '.volume | {status, attachments: [.attachments[] | {server_id, attachment_id, host_name, device}]}' <<<"$vol")"
[[ $(jq -r '.volume.attachments[0].server_id' <<<"$vol") == "$SID" ]] || fail "Cinder's attachment server_id is not $SID"
AID=$(jq -r '.volume.attachments[0].attachment_id' <<<"$vol")
c=$(code_of cinder DELETE "/attachments/$AID")
[[ $c == 409 ]] || fail "Cinder let the user delete Nova's attachment (HTTP $c, expected 409)"
echo "    cinder DELETE /attachments/$AID as the user: HTTP 409 ($(jq -r '.conflictingRequest.message // .' "$LAST" | cut -c1-60)...)"
[[ $(call cinder GET "/volumes/$DATA" | jq -r .volume.status) == in-use ]] || fail "volume not in-use after the refused delete"

echo "== detach through Nova"
t=$(ms)
call nova DELETE "/servers/$SID/os-volume_attachments/$DATA" >/dev/null
wait_vol "$DATA" available
step "DELETE os-volume_attachments -> Cinder available" "$t"
[[ $(call cinder GET "/volumes/$DATA" | jq '.volume.attachments | length') == 0 ]] || fail "attachments left on $DATA"

echo "== delete the server and the volumes"
t=$(ms)
call nova DELETE "/servers/$SID" >/dev/null
wait_gone nova "/servers/$SID"
step "DELETE server -> 404" "$t"
SID=''
wait_vol "$BOOT" available
t=$(ms)
for v in "$BOOT" "$DATA"; do call cinder DELETE "/volumes/$v" >/dev/null; done
for v in "$BOOT" "$DATA"; do wait_gone cinder "/volumes/$v"; done
step "both volumes deleted" "$t"
BOOT='' DATA=''
echo "NOVA CHECK PASSED in $(($(ms) - T_ALL)) ms"
