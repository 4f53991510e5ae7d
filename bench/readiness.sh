#!/usr/bin/env bash
# Run time and peak memory of `riposte readiness` on a forest of N extra users
# (default 20,000) imported into the lab with one LDIF file. Not a test: it
# prints figures (and a JSON summary on the last line).
#
#   bench/readiness.sh [USERS] [RUNS]      (defaults: 20000 users, 3 runs)
#   KEEP=1 bench/readiness.sh              keep the seeded users afterwards
#
# Seeds FABRIKAM (the tests act on CORP): 95% of the users under OU=Staff
# (delegated to the action account), 5% in an OU outside the delegation;
# every 10th has "password never expires", every 50th "smart card required".
set -euo pipefail
cd "$(dirname "$0")/.."
USERS=${1:-20000}
RUNS=${2:-3}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
PROFILE=${PROFILE:-release}
if [[ $PROFILE == release ]]; then
  cargo build --release -q -p riposte --bin riposte
else
  cargo build -q -p riposte --bin riposte
fi
BIN=$CARGO_TARGET_DIR/$PROFILE/riposte
scripts/lab up >/dev/null
LAB=.lab/lab.json
jq_lab() { python3 -c "import json,sys; f=[f for f in json.load(open('$LAB'))['forests'] if f['name']=='fabrikam'][0]; print(f[sys.argv[1]])" "$1"; }
BASE=$(jq_lab base_dn)
STAFF=$(jq_lab staff_ou)
URL=$(jq_lab ldaps_url)
ADMIN=$(jq_lab admin_dn)
ADMIN_PW=$(jq_lab admin_password_file)
export LDAPTLS_CACERT=$PWD/.lab/ca/ca.pem LDAPTLS_REQCERT=demand
IN_OU="OU=Bench,$STAFF"
OUT_OU="OU=BenchOutside,$BASE"
WORK=$(mktemp -d)
cleanup() {
  if [[ ${KEEP:-0} != 1 ]]; then
    echo "removing the seeded users..." >&2
    for ou in "$IN_OU" "$OUT_OU"; do
      ldapdelete -H "$URL" -x -D "$ADMIN" -y "$ADMIN_PW" -r "$ou" 2>/dev/null || true
    done
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

existing=$(ldapsearch -H "$URL" -x -D "$ADMIN" -y "$ADMIN_PW" -LLL -b "$IN_OU" -s one "(objectClass=user)" dn 2>/dev/null | grep -c '^dn:' || true)
outside=$(( USERS / 20 ))
if (( existing + outside < USERS )); then
  python3 - "$USERS" "$IN_OU" "$OUT_OU" > "$WORK/users.ldif" <<'PY'
import sys
n, inside, outside = int(sys.argv[1]), sys.argv[2], sys.argv[3]
print(f"dn: {inside}\nobjectClass: organizationalUnit\n")
print(f"dn: {outside}\nobjectClass: organizationalUnit\n")
for i in range(n):
    ou = outside if i % 20 == 19 else inside
    uac = 0x222  # normal, disabled, no password needed: no password hashing to slow the import
    if i % 10 == 0:
        uac |= 0x10000
    if i % 50 == 1:
        uac |= 0x40000
    print(f"dn: CN=bench{i:06d},{ou}\nobjectClass: user\nsAMAccountName: bench{i:06d}\nuserAccountControl: {uac}\n")
PY
  echo "importing $USERS users with one LDIF file..." >&2
  t0=$(date +%s.%N)
  ldapadd -c -H "$URL" -x -D "$ADMIN" -y "$ADMIN_PW" -f "$WORK/users.ldif" >/dev/null 2>"$WORK/ldapadd.err" || true
  seed_secs=$(python3 -c "import time; print(round(time.time() - $t0, 1))")
else
  seed_secs=0
fi

walls=(); rss=(); scanned=0
for r in $(seq 1 "$RUNS"); do
  /usr/bin/time -f '%e %M' -o "$WORK/time" "$BIN" --config .lab/riposte.toml --json readiness --quiet > "$WORK/report.json"
  read -r wall kb < "$WORK/time"
  walls+=("$wall"); rss+=("$kb")
  scanned=$(python3 -c "import json; r=json.load(open('$WORK/report.json')); print([f for f in r['forests'] if f['name']=='fabrikam'][0]['users_scanned'])")
  echo "run $r: ${wall} s wall, $(( kb / 1024 )) MiB peak RSS, fabrikam users judged: $scanned" >&2
done
python3 - "$USERS" "$scanned" "$seed_secs" "$PROFILE" "${walls[*]}" "${rss[*]}" "$WORK/report.json" <<'PY'
import json, statistics, sys
users, scanned, seed, profile = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
walls = [float(x) for x in sys.argv[5].split()]
rss = [int(x) for x in sys.argv[6].split()]
report = json.load(open(sys.argv[7]))
fab = [f for f in report["forests"] if f["name"] == "fabrikam"][0]
cov = {c["action"]: {"covered": c["covered"], "not_covered": c["not_covered"]} for c in fab["coverage"]}
median = statistics.median(walls)
print(json.dumps({
    "bench": "readiness", "profile": profile, "seeded_users": users, "fabrikam_users_judged": scanned,
    "seed_seconds": seed, "runs": len(walls), "wall_seconds_median": median,
    "users_per_second": round(scanned / median) if median else None,
    "peak_rss_mib_max": round(max(rss) / 1024, 1),
    "projected_minutes_for_100k_users": round(100000 / (scanned / median) / 60, 1) if median else None,
    "coverage_fabrikam": cov,
}))
PY
