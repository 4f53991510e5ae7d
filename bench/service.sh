#!/usr/bin/env bash
# API request -> verified outcome as the caller sees it, on the Samba lab (corp, 127.0.0.11). Not a test:
# it prints figures, a JSON summary (last line of stdout) and appends a section to BENCHMARKS.md.
#
#   bench/service.sh [N]                 (default: 20 accounts per series)
#
#   BENCH_PROFILE=release  the build measured (default release; debug only to check the script)
#   BENCH_RECORD=0         do not append to BENCHMARKS.md
#   PG_NODES=0             skip the two-node PostgreSQL series
#   RIPOSTE_LAB_JSON       the lab (default .lab/lab.json); PostgreSQL: RIPOSTE_TEST_POSTGRES_URL or .lab/postgres.url
#
# Series, each N accounts, each timed from before the request to the outcome in hand (median, p90 ms):
#   floor:      one LDAP modify + read-back on an open, bound LDAPS connection (examples/ldap_floor);
#   sse:        one warm `riposte serve` on SQLite: POST /api/v1/actions, then GET the job's event stream
#               until its `finished` event;
#   wait:       the same node: POST /api/v1/actions?wait=10 (one call, 200 with the finished job);
#   pg_sse / pg_wait: two `riposte serve` on one PostgreSQL ledger; node A runs no worker
#               ([server] worker = false), so node B claims every job (woken by NOTIFY); the request and
#               the stream go to A, which learns the outcome from B's NOTIFY.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20}
PROFILE=${BENCH_PROFILE:-release}
LAB_JSON=${RIPOSTE_LAB_JSON:-.lab/lab.json}
LAB=$(cd "$(dirname "$LAB_JSON")" && pwd -P)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
if [ "$PROFILE" = release ]; then REL=--release; else REL=; fi
cargo build $REL -q -p riposte --bin riposte
cargo build $REL -q -p riposte-ad --example ldap_floor

BASE="DC=corp,DC=example,DC=test"
URL=ldaps://127.0.0.11
CA=$LAB/ca/ca.pem
ADMIN_DN="CN=Administrator,CN=Users,$BASE"
ADMIN_PW=$LAB/corp/admin.secret
ACTION_DN="CN=riposte-action,OU=Service,$BASE"
ACTION_PW=$LAB/corp/action.secret
TAG=svc$$
OU="OU=$TAG,OU=Staff,$BASE"
WORK=$(mktemp -d)
# Copies: a rebuild during the run must not change what is measured.
cp "$CARGO_TARGET_DIR/$PROFILE/riposte" "$CARGO_TARGET_DIR/$PROFILE/examples/ldap_floor" "$WORK/"
BIN=$WORK/riposte
PIDS=()
PG_DB=
PG_BASE=${RIPOSTE_TEST_POSTGRES_URL:-$(cat "$LAB/postgres.url" 2>/dev/null || true)}

ldap_as_admin() { local tool=$1; shift; LDAPTLS_CACERT=$CA LDAPTLS_REQCERT=demand "$tool" -H "$URL" -x -D "$ADMIN_DN" -y "$ADMIN_PW" "$@"; }
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2> /dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2> /dev/null || true; done
  ldap_as_admin ldapdelete -e '!1.2.840.113556.1.4.805' "$OU" > /dev/null 2>&1 || true
  [ -n "$PG_DB" ] && psql "$PG_BASE" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" > /dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap "exit 130" INT TERM

# One pool of N accounts per series (NORMAL_ACCOUNT + PASSWD_NOTREQD, 544), seeded with one ldapadd.
SERIES="floor sse wait pg_sse pg_wait"
python3 - "$N" "$TAG" "$OU" "$WORK" $SERIES <<'PY'
import sys
n, tag, ou, work, series = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
with open(f"{work}/seed.ldif", "w") as seed:
    seed.write(f"dn: {ou}\nobjectClass: organizationalUnit\n\n")
    for s in series:
        with open(f"{work}/{s}.txt", "w") as names:
            for i in range(n):
                name = f"{tag}{s.replace('_', '')}{i}"
                seed.write(f"dn: CN={name},{ou}\nobjectClass: user\nsAMAccountName: {name}\nuserAccountControl: 544\n\n")
                names.write(name + "\n")
PY
ldap_as_admin ldapadd -f "$WORK/seed.ldif" > /dev/null
echo "seeded $(( N * 5 )) users under $OU"

# The lab's config, AD only, its own ledger; $1: the file, $2: data dir, $3: extra top lines.
config() {
  python3 - "$LAB/riposte.toml" "$1" "$2" "${3:-}" <<'PY'
import sys
text = open(sys.argv[1]).read()
head, _, _ = text.partition("[[tenant]]")
lines = [l for l in head.splitlines() if not l.startswith("data_dir") and not l.startswith("database_url")]
open(sys.argv[2], "w").write(sys.argv[4] + f'data_dir = "{sys.argv[3]}"\n' + "\n".join(lines) + "\n")
PY
}
# Starts `riposte serve` on $1 (env in $2...); its base URL in $ADDR. Not in a subshell: PIDS must
# keep its pid for the cleanup.
serve() {
  local cfg=$1 out; shift
  out=$WORK/node${#PIDS[@]}.out
  env RIPOSTE_LISTEN=127.0.0.1:0 RIPOSTE_LOG=error "$@" "$BIN" --config "$cfg" serve > "$out" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 200); do grep -q 'listening on' "$out" && break; sleep 0.1; done
  ADDR=$(grep -o 'http://[0-9.:]*' "$out" | head -1)
  [ -n "$ADDR" ] || { echo "riposte serve did not start: $(cat "$out")" >&2; exit 1; }
}
token() { RIPOSTE_LOG=error "$BIN" --config "$1" --json token create --name "bench$RANDOM" --role admin | python3 -c 'import sys,json; print(json.load(sys.stdin)["token"])'; }

# Times N requests (one per account of $4) against node $1 with token $2; mode $3: sse | wait.
# One line per request: milliseconds from before the POST to the verified outcome in hand.
measure() {
  python3 - "$1" "$2" "$3" "$WORK/$4.txt" <<'PY'
import http.client, json, sys, time, urllib.parse
base, token, mode, names = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
u = urllib.parse.urlparse(base)
auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
def call(method, path, body=None):
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    c.request(method, path, body=body, headers=auth)
    r = c.getresponse()
    return r.status, r.read().decode()
for name in open(names).read().split():
    body = json.dumps({"target": f"corp:{name}", "action": "disable", "reason": "bench: service"})
    start = time.perf_counter()
    if mode == "wait":
        status, text = call("POST", "/api/v1/actions?wait=10", body)
        if status != 200:
            sys.exit(f"{name}: ?wait answered {status}: {text}")
        outcome = json.loads(text)["outcome"]
    else:
        status, text = call("POST", "/api/v1/actions", body)
        if status != 202:
            sys.exit(f"{name}: {status}: {text}")
        job = json.loads(text)["job_id"]
        status, events = call("GET", f"/api/v1/jobs/{job}/events")
        last = events.split("event: finished")[-1]
        data = next(l[6:] for l in last.splitlines() if l.startswith("data: "))
        outcome = json.loads(data)["job"]["outcome"]
    took = (time.perf_counter() - start) * 1000
    if outcome != "verified":
        sys.exit(f"{name}: outcome {outcome}")
    print(f"{took:.3f}")
PY
}
stats() { python3 -c 'import sys,json,statistics; v=sorted(float(x) for x in open(sys.argv[1]).read().split()); p90=v[min(len(v)-1, int(round(0.9*(len(v)-1))))]; print(json.dumps({"median_ms": round(statistics.median(v),2), "p90_ms": round(p90,2), "n": len(v)}))' "$1"; }

echo "== floor: LDAP modify + read-back on an open connection"
sed "s/^/CN=/; s/\$/,$OU/" "$WORK/floor.txt" | "$WORK/ldap_floor" "$URL" "$ACTION_DN" "$ACTION_PW" "$CA" 546 > "$WORK/t_floor"
echo "== one node, SQLite"
config "$WORK/one.toml" "$WORK/data-one"
T1=$(token "$WORK/one.toml")
serve "$WORK/one.toml"; A1=$ADDR
measure "$A1" "$T1" sse sse > "$WORK/t_sse"
measure "$A1" "$T1" wait wait > "$WORK/t_wait"
PG=null
if [ "${PG_NODES:-2}" != 0 ] && [ -n "$PG_BASE" ]; then
  echo "== two nodes, PostgreSQL: request to A (no worker), B claims"
  PG_DB="riposte_service_$$"
  psql "$PG_BASE" -qc "CREATE DATABASE $PG_DB" > /dev/null
  config "$WORK/pg.toml" "$WORK/data-pg" "database_url = \"${PG_BASE%/*}/$PG_DB\"
"
  T2=$(token "$WORK/pg.toml")
  serve "$WORK/pg.toml" RIPOSTE_WORKER=false; A2=$ADDR
  serve "$WORK/pg.toml"
  measure "$A2" "$T2" sse pg_sse > "$WORK/t_pg_sse"
  measure "$A2" "$T2" wait pg_wait > "$WORK/t_pg_wait"
  PG=ok
fi

SUMMARY=$(python3 - "$WORK" "$PROFILE" "$N" "$PG" <<'PY'
import json, os, platform, statistics, sys
work, profile, n, pg = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
def figures(s):
    v = sorted(float(x) for x in open(f"{work}/t_{s}").read().split())
    return {"median_ms": round(statistics.median(v), 2), "p90_ms": round(v[min(len(v) - 1, int(round(0.9 * (len(v) - 1))))], 2)}
floor = figures("floor")
out = {"bench": "service", "profile": profile, "accounts_per_series": n, "floor": floor}
series = ["sse", "wait"] + (["pg_sse", "pg_wait"] if pg == "ok" else [])
for s in series:
    f = figures(s)
    f["ratio_to_floor"] = round(f["median_ms"] / floor["median_ms"], 2)
    out[s] = f
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
mem = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal"))
out["machine"] = {"nproc": os.cpu_count(), "cpu": cpu, "ram_gib": round(mem / 1048576, 1)}
print(json.dumps(out))
PY
)
python3 - "$SUMMARY" <<'PY'
import json, sys
s = json.loads(sys.argv[1])
print(f"floor: {s['floor']['median_ms']} ms (p90 {s['floor']['p90_ms']})")
for k in ("sse", "wait", "pg_sse", "pg_wait"):
    if k in s:
        print(f"{k:>8}: {s[k]['median_ms']} ms (p90 {s[k]['p90_ms']}), {s[k]['ratio_to_floor']}x the floor")
PY
if [ "${BENCH_RECORD:-1}" = 1 ]; then
  python3 - "$SUMMARY" "$N" >> BENCHMARKS.md <<'PY'
import json, sys, datetime
s, n = json.loads(sys.argv[1]), sys.argv[2]
m = s["machine"]
print(f"\n### bench/service.sh ({s['profile']} build, {datetime.date.today()}, {m['nproc']} cores, {m['cpu']}, {m['ram_gib']} GiB)\n")
print(f"`bench/service.sh {n}`: {n} accounts per series, caller's time from before the request to the verified outcome.\n")
print("| path | median ms | p90 ms | ratio to floor |\n|---|---|---|---|")
print(f"| floor: LDAP modify + read-back, open connection | {s['floor']['median_ms']} | {s['floor']['p90_ms']} | 1 |")
names = {"sse": "one node (SQLite): POST + event stream", "wait": "one node (SQLite): POST ?wait=10",
         "pg_sse": "two nodes (PostgreSQL), A asked, B claims: POST + stream on A", "pg_wait": "two nodes (PostgreSQL): POST ?wait=10 on A"}
for k, label in names.items():
    if k in s:
        print(f"| {label} | {s[k]['median_ms']} | {s[k]['p90_ms']} | {s[k]['ratio_to_floor']} |")
print("\nSummary (JSON):\n\n```json\n" + json.dumps(s) + "\n```")
PY
fi
echo "$SUMMARY"
