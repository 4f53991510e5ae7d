#!/usr/bin/env bash
# A DC event to a verified containment, on the Samba lab (corp, 127.0.0.11). Not a test: it prints
# figures, a JSON summary (last line of stdout) and appends a section to BENCHMARKS.md.
#
#   bench/event.sh [RUNS]                      (default: 20 runs)
#
#   BENCH_PROFILE=release  build riposte with --release (the default; debug: the dev build the tests use)
#   BENCH_RECORD=0         do not append to BENCHMARKS.md
#   RIPOSTE_BIN=PATH       measure this riposte binary instead of building one (e.g. an older build)
#   RIPOSTE_LAB_JSON=PATH  the lab's description (default: .lab/lab.json)
#
# `riposte serve` runs on a private copy of the lab config: its own ledger, tailing the DCs' audit
# logs as the lab config's [[ingest]] says, with one automation rule: disable the account named by
# riposte.compromised_after_spray (T1078), limited to this run's own OU. Each run, for a fresh
# account of that OU: four kinit with wrong passwords against the lab KDC (a brute force; the
# config's [detect.brute_force] min_failures = 4 stays under the lab's lockoutThreshold of 5, so the
# account is not locked), then kinit with the right password: Samba's 4624 for it is the deciding
# audit line. Measured: from that line's own timestamp (Samba writes it as it logs the event) to the
# job's finished_at in the ledger (GET /api/v1/jobs), with the outcome read back from the DC.
# Also shown: line -> job queued (tailer, detection, alert store, automation) and queued -> finished.
# Floor: one LDAP modify + one read-back on an open, bound LDAPS connection (examples/ldap_floor.rs),
# the directory's own time for the containment, measured over RUNS other accounts in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-20}
PROFILE=${BENCH_PROFILE:-release}
LAB_JSON=${RIPOSTE_LAB_JSON:-.lab/lab.json}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
if [ "$PROFILE" = release ]; then REL=--release; else REL=; fi
[ -n "${RIPOSTE_BIN:-}" ] || cargo build $REL -q -p riposte --bin riposte
cargo build $REL -q -p riposte-ad --example ldap_floor

lab() { python3 -c 'import json,sys; f=json.load(open(sys.argv[1]))["forests"][0]; print(f[sys.argv[2]])' "$LAB_JSON" "$1"; }
CONFIG=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["config"])' "$LAB_JSON")
export KRB5_CONFIG=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["krb5_conf"])' "$LAB_JSON")
CA=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ca_file"])' "$LAB_JSON")
REALM=$(lab realm); URL=$(lab ldaps_url)
ADMIN_DN=$(lab admin_dn); ADMIN_PW=$(lab admin_password_file)
ACTION_DN=$(lab action_dn); ACTION_PW=$(lab action_password_file)
AUDIT_LOG=$(lab audit_log); STAFF=$(lab staff_ou)
TAG=evt$$
OU="OU=$TAG,$STAFF"
WORK=$(mktemp -d)
# Copies: a rebuild during the run must not change what is measured.
cp "${RIPOSTE_BIN:-$CARGO_TARGET_DIR/$PROFILE/riposte}" "$WORK/riposte"
cp "$CARGO_TARGET_DIR/$PROFILE/examples/ldap_floor" "$WORK/"
BIN=$WORK/riposte
SERVE_PID=

ldap_admin() { # tool args...
  local tool=$1; shift
  LDAPTLS_CACERT=$CA LDAPTLS_REQCERT=demand "$tool" -H "$URL" -x -D "$ADMIN_DN" -y "$ADMIN_PW" "$@"
}
cleanup() {
  [ -n "$SERVE_PID" ] && { kill "$SERVE_PID" 2> /dev/null; wait "$SERVE_PID" 2> /dev/null || true; }
  # Tree delete (Samba refuses a plain delete of a non-leaf).
  ldap_admin ldapdelete -e '!1.2.840.113556.1.4.805' "$OU" > /dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap "exit 130" INT TERM
median() { python3 -c 'import sys,statistics; v=[float(x) for x in sys.stdin.read().split()]; print(f"{statistics.median(v):.1f}")'; }

# RUNS accounts for the runs, a few spares (a run whose kinit is disturbed by another user of the
# shared lab is skipped, not counted), RUNS for the floor; each with its own password.
SPARE=5
python3 - "$RUNS" "$SPARE" "$TAG" "$OU" "$WORK" "$(lab domain)" <<'PY'
import base64, secrets, sys
runs, spare, tag, ou, work, domain = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
with open(f"{work}/seed.ldif", "w") as seed, open(f"{work}/users.txt", "w") as users, open(f"{work}/floor_dns.txt", "w") as floor:
    seed.write(f"dn: {ou}\nobjectClass: organizationalUnit\n\n")
    for i in range(runs + spare):
        name, password = f"{tag}u{i}", f"Ev-{secrets.token_hex(8)}!Q9"
        pwd = base64.b64encode(f'"{password}"'.encode("utf-16-le")).decode()
        seed.write(f"dn: CN={name},{ou}\nobjectClass: user\nsAMAccountName: {name}\nuserPrincipalName: {name}@{domain}\n"
                   f"unicodePwd:: {pwd}\nuserAccountControl: 512\n\n")
        users.write(f"{name} {password}\n")
    for i in range(runs):
        name = f"{tag}f{i}"
        seed.write(f"dn: CN={name},{ou}\nobjectClass: user\nsAMAccountName: {name}\nuserAccountControl: 544\n\n")
        floor.write(f"CN={name},{ou}\n")
PY
ldap_admin ldapadd -f "$WORK/seed.ldif" > /dev/null
echo "created $((RUNS + SPARE)) bench accounts (+ $RUNS for the floor) under $OU"

# The private config: the lab's, its own ledger, the brute-force threshold under the lockout one,
# and the automation rule limited to this OU (the DC log is shared: others' accounts are never touched).
{
  echo "data_dir = \"$WORK/data\""
  grep -v '^data_dir' "$CONFIG"
  cat <<EOF

[detect.brute_force]
min_failures = 4

[automation]
mode = "enforce"
circuit_breaker = { max_actions = 1000, window_minutes = 10 }

[[automation.rule]]
name = "contain-compromised"
rule_id = "riposte.compromised_after_spray"
action = "disable"
on = "users"
forests = ["corp"]
ous = ["$OU"]
EOF
} > "$WORK/riposte.toml"
grep -q '^\[\[ingest\]\]' "$WORK/riposte.toml" || { echo "the lab config tails no audit log ([[ingest]])" >&2; exit 1; }
TOKEN=$(RIPOSTE_LOG=error "$BIN" --config "$WORK/riposte.toml" --json token create --name bench --role reader |
  python3 -c 'import sys,json; print(json.load(sys.stdin)["token"])')
RIPOSTE_LISTEN=127.0.0.1:0 RIPOSTE_LOG=${RIPOSTE_LOG:-warn} "$BIN" --config "$WORK/riposte.toml" serve > "$WORK/serve.out" 2>&1 &
SERVE_PID=$!
for _ in $(seq 1 300); do grep -q 'listening on' "$WORK/serve.out" && break; sleep 0.1; done
ADDR=$(grep -o 'http://[0-9.:]*' "$WORK/serve.out" | head -1)
[ -n "$ADDR" ] || { echo "riposte serve did not start:" >&2; cat "$WORK/serve.out" >&2; exit 1; }
# The tailer saves its position after its first read of the log: from then on it follows it.
for _ in $(seq 1 300); do [ -s "$WORK/data/ingest/corp.offset" ] && break; sleep 0.1; done
[ -s "$WORK/data/ingest/corp.offset" ] || { echo "the tailer never read $AUDIT_LOG" >&2; exit 1; }

kinit_as() { # user password -> 0 when a TGT was issued
  printf '%s\n' "$2" | KRB5CCNAME="FILE:$WORK/cc-$1" kinit "$1@$REALM" > /dev/null 2>&1
}

echo "== $RUNS runs: 4 wrong passwords then the right one (kinit, lab KDC), until the job is verified"
: > "$WORK/results"
measured=0
while read -r user password; do
  [ "$measured" -ge "$RUNS" ] && break
  from=$(stat -c %s "$AUDIT_LOG")
  for _ in 1 2 3 4; do
    ! kinit_as "$user" "$password-wrong" || { echo "a wrong password was accepted for $user" >&2; exit 1; }
  done
  if ! kinit_as "$user" "$password"; then
    echo "run skipped: the right password was refused for $user (another user of the shared lab?)" >&2
    continue
  fi
  job=
  for _ in $(seq 1 600); do
    job=$(curl -sf -H "Authorization: Bearer $TOKEN" "$ADDR/api/v1/jobs?target=$user&state=finished&limit=5" |
      python3 -c 'import sys,json; j=json.load(sys.stdin)["jobs"]; print(json.dumps(j[0]) if j else "")')
    [ -n "$job" ] && break
    sleep 0.05
  done
  [ -n "$job" ] || { echo "no finished job for $user within 30 s:" >&2; tail -20 "$WORK/serve.out" >&2; exit 1; }
  # The deciding line: Samba's 4624 for this account, written after $from.
  python3 - "$AUDIT_LOG" "$from" "$user" "$job" >> "$WORK/results" <<'PY'
import json, re, sys
from datetime import datetime
log, start, user, job = sys.argv[1], int(sys.argv[2]), sys.argv[3].lower(), json.loads(sys.argv[4])
def ts(text):  # RFC 3339 with up to 9 fractional digits, or Samba's +0000
    m = re.match(r"(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)$", text)
    frac = (m.group(2) or "0")[:6].ljust(6, "0")
    zone = "+0000" if m.group(3) == "Z" else m.group(3).replace(":", "")
    return datetime.strptime(f"{m.group(1)}.{frac}{zone}", "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
line_at = None
with open(log, "rb") as f:
    f.seek(start)
    for raw in f:
        i = raw.find(b"{")
        if i < 0 or b"4624" not in raw:
            continue
        try:
            rec = json.loads(raw[i:])
        except ValueError:
            continue
        a = rec.get("Authentication") or {}
        if a.get("eventId") == 4624 and str(a.get("becameAccount", "")).lower() == user:
            line_at = ts(rec["timestamp"])
            break
if line_at is None:
    sys.exit(f"no 4624 for {user} in the audit log")
queued, finished = ts(job["created_at"]), ts(job["finished_at"])
print(json.dumps({"user": user, "outcome": job["outcome"], "total_ms": round((finished - line_at) * 1000, 1),
                  "to_queued_ms": round((queued - line_at) * 1000, 1), "job_ms": round((finished - queued) * 1000, 1)}))
PY
  tail -1 "$WORK/results" | python3 -c 'import sys,json; print("  %(user)s: %(total_ms)s ms (line -> queued %(to_queued_ms)s, queued -> finished %(job_ms)s), %(outcome)s" % json.load(sys.stdin))'
  measured=$((measured + 1))
done < "$WORK/users.txt"
[ "$measured" -ge "$RUNS" ] || { echo "only $measured of $RUNS runs measured" >&2; exit 1; }

floor=$("$WORK/ldap_floor" "$URL" "$ACTION_DN" "$ACTION_PW" "$CA" 546 < "$WORK/floor_dns.txt" | median)
echo "floor: LDAP modify + read-back on an open connection, median $floor ms"

SUMMARY=$(python3 - "$WORK/results" "$RUNS" "$PROFILE" "$floor" "${RIPOSTE_BIN:+given binary}" <<'PY'
import json, os, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
runs, profile, floor, given = int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), sys.argv[5]
def q(values, p):
    v = sorted(values)
    return round(v[min(len(v) - 1, max(0, -(-len(v) * p // 100) - 1))], 1)  # nearest-rank percentile
total = [r["total_ms"] for r in rows]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
mem = next((int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0)
med = round(statistics.median(total), 1)
print(json.dumps({
  "machine": {"cores": os.cpu_count(), "memory_gib": round(mem / 1048576, 1), "cpu": cpu,
              "riposte_build": profile + (f" ({given})" if given else "")},
  "runs": runs,
  "event_to_verified_ms": {"median": med, "p90": q(total, 90), "min": min(total), "max": max(total)},
  "line_to_queued_ms": {"median": round(statistics.median(r["to_queued_ms"] for r in rows), 1),
                        "p90": q([r["to_queued_ms"] for r in rows], 90)},
  "queued_to_finished_ms": {"median": round(statistics.median(r["job_ms"] for r in rows), 1),
                            "p90": q([r["job_ms"] for r in rows], 90)},
  "floor_modify_readback_ms": floor,
  "ratio_to_floor": round(med / floor, 1),
  "outcomes": {o: sum(r["outcome"] == o for r in rows) for o in sorted({r["outcome"] for r in rows})},
  "goal_met": med <= 500 and q(total, 90) <= 1000,
}))
PY
)
if [ "${BENCH_RECORD:-1}" = 1 ]; then
  python3 - "$SUMMARY" "$RUNS" <<'PY' >> BENCHMARKS.md
import json, sys, datetime
s = json.loads(sys.argv[1]); m = s["machine"]; e = s["event_to_verified_ms"]
print(f"\n### Run of {datetime.date.today()}, `bench/event.sh {sys.argv[2]}` ({m['riposte_build']} build), {m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB\n")
print("| a DC event to a verified containment | median ms | p90 ms |\n|---|---|---|")
print(f"| deciding audit line (Samba's 4624) -> job finished, verified | {e['median']} | {e['p90']} |")
print(f"| of which: line -> job queued (tailer, detection, alert, automation) | {s['line_to_queued_ms']['median']} | {s['line_to_queued_ms']['p90']} |")
print(f"| of which: queued -> finished (the job: write and read-back) | {s['queued_to_finished_ms']['median']} | {s['queued_to_finished_ms']['p90']} |")
print(f"| floor: LDAP modify + read-back on an open connection | {s['floor_modify_readback_ms']} | |\n")
print("Summary (JSON):\n\n```json\n" + json.dumps(s) + "\n```")
PY
fi
echo "$SUMMARY"
