#!/usr/bin/env bash
# check.sh: a quick proof that the test bed up.sh started works through each
# cloud of its clouds.yaml, with curl only:
#   local          Keystone password token, volumev3 endpoint from the catalog
#   local-appcred  Keystone application-credential token
#   local-noauth   the noauth cinder-api ("user:project" token)
# lists volumes through each, then (as local) creates a 1 GiB volume of type
# "fast", retypes it to "standard", and deletes it. Exit 0 = all passed.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[[ -f $CLOUDS_YAML ]] || { echo "no $CLOUDS_YAML: run up.sh first" >&2; exit 1; }
MV='OpenStack-API-Version: volume 3.70'
ms() { date +%s%3N; }
fail() { echo "FAIL: $*" >&2; exit 1; }
# cloud NAME JQ: a value from clouds.yaml
CLOUDS_JSON=$(/usr/bin/python3 -c 'import sys, json, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))' "$CLOUDS_YAML")
cloud() { jq -er --arg c "$1" ".clouds[\$c]$2" <<<"$CLOUDS_JSON"; }

# token IDENTITY_JSON [SCOPE_JSON] AUTH_URL: sets TOKEN and EP (volumev3 public URL)
token() {
  local hdr body; hdr=$(mktemp)
  body=$(curl -sf -D "$hdr" -H 'Content-Type: application/json' \
    -d "{\"auth\":{\"identity\":$1${2:+,\"scope\":$2}}}" "$3/auth/tokens") || { rm -f "$hdr"; fail "no token from $3"; }
  TOKEN=$(awk -F': ' 'tolower($1)=="x-subject-token"{print $2}' "$hdr" | tr -d '\r'); rm -f "$hdr"
  EP=$(jq -r '.token.catalog[] | select(.type=="volumev3") | .endpoints[] | select(.interface=="public") | .url' <<<"$body")
  [[ -n $EP ]] || fail "no volumev3 endpoint in the catalog"
}
api() {  # api METHOD URL [JSON]: body on stdout, non-2xx fails
  local out code; out=$(mktemp)
  code=$(curl -sS -o "$out" -w '%{http_code}' -X "$1" -H "X-Auth-Token: $TOKEN" -H "$MV" \
    -H 'Content-Type: application/json' ${3:+-d "$3"} "$2")
  [[ $code == 2* ]] || { echo "HTTP $code on $1 $2: $(cat "$out")" >&2; rm -f "$out"; return 1; }
  cat "$out"; rm -f "$out"
}
count() { api GET "$1/volumes" | jq '.volumes | length'; }

# local: password
c=local
token "$(jq -nc --arg u "$(cloud $c .auth.username)" --arg p "$(cloud $c .auth.password)" \
  '{methods:["password"],password:{user:{name:$u,domain:{name:"Default"},password:$p}}}')" \
  "$(jq -nc --arg n "$(cloud $c .auth.project_name)" '{project:{name:$n,domain:{name:"Default"}}}')" \
  "$(cloud $c .auth.auth_url)"
echo "local          token ok; endpoint $EP; $(count "$EP") volume(s)"
LOCAL_TOKEN=$TOKEN LOCAL_EP=$EP

# local-appcred: application credential
c=local-appcred
token "$(jq -nc --arg i "$(cloud $c .auth.application_credential_id)" --arg s "$(cloud $c .auth.application_credential_secret)" \
  '{methods:["application_credential"],application_credential:{id:$i,secret:$s}}')" "" "$(cloud $c .auth.auth_url)"
echo "local-appcred  token ok; endpoint $EP; $(count "$EP") volume(s)"

# local-noauth
c=local-noauth
P=$(cloud $c .auth.project_id)
TOKEN="admin:$P" EP="$(cloud $c .auth.endpoint)/$P"
echo "local-noauth   endpoint $EP; $(count "$EP") volume(s)"
NOAUTH_EP=$EP

# create (type fast) -> retype to standard -> delete, as "local"
TOKEN=$LOCAL_TOKEN EP=$LOCAL_EP
wait_volume() {  # wait_volume ID JQ_CONDITION
  local t; t=$(ms)
  until api GET "$EP/volumes/$1" | jq -e ".volume | $2" >/dev/null; do
    s=$(api GET "$EP/volumes/$1" | jq -r .volume.status)
    [[ $s == error* ]] && fail "volume $1 went to $s"
    (($(ms) - t > 120000)) && fail "volume $1 stuck in $s"
    sleep 0.3
  done
}
t=$(ms)
V=$(api POST "$EP/volumes" '{"volume":{"name":"check-fast","size":1,"volume_type":"fast"}}' | jq -r .volume.id)
wait_volume "$V" '.status=="available"'
echo "created $V (type $(api GET "$EP/volumes/$V" | jq -r .volume.volume_type)) in $(($(ms) - t)) ms"
TOKEN="admin:$P" api GET "$NOAUTH_EP/volumes/$V" | jq -e '.volume.id' >/dev/null || fail "noauth API does not see $V"
t=$(ms)
api POST "$EP/volumes/$V/action" '{"os-retype":{"new_type":"standard","migration_policy":"never"}}' >/dev/null
wait_volume "$V" '.status=="available" and .volume_type=="standard"'
echo "retyped fast -> standard in $(($(ms) - t)) ms"
t=$(ms)
api DELETE "$EP/volumes/$V" >/dev/null
until [[ $(curl -s -o /dev/null -w '%{http_code}' -H "X-Auth-Token: $TOKEN" -H "$MV" "$EP/volumes/$V") == 404 ]]; do
  (($(ms) - t > 60000)) && fail "volume $V not deleted"
  sleep 0.3
done
echo "deleted in $(($(ms) - t)) ms"
echo "CHECK PASSED"
