#!/usr/bin/env bash
# Mass containment on the Samba lab (corp, 127.0.0.11), the same inputs side by side. Not a test:
# it prints figures, a JSON summary (last line of stdout) and appends a section to BENCHMARKS.md.
#
#   bench/bulk.sh [ACCOUNTS] [REPS] [SINGLE_REPS]        (defaults: 2000 accounts, 3 reps, 15 single actions)
#
#   BENCH_PROFILE=debug    measure the dev build the tests use (default: release)
#   BENCH_RECORD=0         do not append to BENCHMARKS.md
#   RIPOSTE_BIN=PATH       measure this riposte binary instead of building one (an older build: it
#                          runs without the connections_per_dc = 2 variant, which it would refuse)
#   BEFORE_BIN=PATH        also run this older binary (AD-only config) in each repetition, interleaved
#                          with the others, so before and after are measured under the same load
#
# 1. One action, request to verified outcome (SINGLE_REPS accounts each, median):
#    floor = one LDAP modify + one read-back on an open, bound LDAPS connection (examples/ldap_floor.rs);
#    ldapmodify + ldapsearch as processes; samba-tool user disable; riposte user disable (a process).
# 2. Disable ACCOUNTS accounts (REPS runs, median; all re-enabled between runs):
#    floor = one ldapmodify over one LDIF with every change (one connection, no verification);
#    a serial ldapmodify loop (one process per account, no verification);
#    riposte bulk disable --ou (each account: CAS write + read-back, ledger, audit), with the lab config
#    (Entra tenant double: each account is also looked up in Entra) and with an AD-only config.
# 3. The same on PostgreSQL with two nodes (bench_postgres_two_nodes below; PG_NODES=0 skips it).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-2000}
REPS=${2:-3}
ONE=${3:-15}
PROFILE=${BENCH_PROFILE:-release}
LAB=$(cd .lab && pwd -P)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
if [ "$PROFILE" = release ]; then REL=--release; else REL=; fi
[ -n "${RIPOSTE_BIN:-}" ] || cargo build $REL -q -p riposte --bin riposte
cargo build $REL -q -p riposte-ad --example ldap_floor

BASE="DC=corp,DC=example,DC=test"
URL=ldaps://127.0.0.11
CA=$LAB/ca/ca.pem
ADMIN_DN="CN=Administrator,CN=Users,$BASE"
ADMIN_PW=$LAB/corp/admin.secret
ACTION_DN="CN=riposte-action,OU=Service,$BASE"
ACTION_PW=$LAB/corp/action.secret
TAG=bench$$
OU="OU=$TAG,OU=Staff,$BASE"          # the ACCOUNTS users of item 2
OU1="OU=${TAG}s,OU=Staff,$BASE"      # the single-action users of item 1
WORK=$(mktemp -d)
# Copies: a rebuild during the run must not change what is measured.
cp "${RIPOSTE_BIN:-$CARGO_TARGET_DIR/$PROFILE/riposte}" "$WORK/riposte"
cp "$CARGO_TARGET_DIR/$PROFILE/examples/ldap_floor" "$WORK/"
[ -z "${BEFORE_BIN:-}" ] || cp "$BEFORE_BIN" "$WORK/riposte-before"
BIN=$WORK/riposte
FLOOR=$WORK/ldap_floor

ldap_as() { # admin|action tool args...
  local who=$1 tool=$2; shift 2
  if [ "$who" = admin ]; then set -- -D "$ADMIN_DN" -y "$ADMIN_PW" "$@"; else set -- -D "$ACTION_DN" -y "$ACTION_PW" "$@"; fi
  LDAPTLS_CACERT=$CA LDAPTLS_REQCERT=demand "$tool" -H "$URL" -x "$@"
}
# Tree delete (Samba refuses a plain delete of a non-leaf; ldapdelete -r stops at search size limits).
cleanup() {
  ldap_as admin ldapdelete -e '!1.2.840.113556.1.4.805' "$OU" >/dev/null 2>&1 || true
  ldap_as admin ldapdelete -e '!1.2.840.113556.1.4.805' "$OU1" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap "exit 130" INT TERM
now_ms() { date +%s%3N; }
median() { python3 -c 'import sys,statistics; v=[float(x) for x in sys.stdin.read().split()]; print(f"{statistics.median(v):.3f}")'; }

# Seed with one LDIF: NORMAL_ACCOUNT + PASSWD_NOTREQD (544), no password (nothing to hash).
python3 - "$N" "$ONE" "$TAG" "$OU" "$OU1" "$WORK" <<'PY'
import sys
n, one, tag, ou, ou1, work = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
pools = {"floor": [], "tools": [], "samba": [], "riposte": []}
with open(f"{work}/seed.ldif", "w") as seed, open(f"{work}/bulk_dns.txt", "w") as dns:
    for dn in (ou, ou1):
        seed.write(f"dn: {dn}\nobjectClass: organizationalUnit\n\n")
    for i in range(n):
        name = f"{tag}b{i}"
        seed.write(f"dn: CN={name},{ou}\nobjectClass: user\nsAMAccountName: {name}\nuserAccountControl: 544\n\n")
        dns.write(f"CN={name},{ou}\n")
    for pool in pools:
        for i in range(one):
            name = f"{tag}{pool[0]}{i}"
            seed.write(f"dn: CN={name},{ou1}\nobjectClass: user\nsAMAccountName: {name}\nuserAccountControl: 544\n\n")
            pools[pool].append(name)
for pool, names in pools.items():
    with open(f"{work}/one_{pool}.txt", "w") as f:
        f.write("".join(f"{n}\n" for n in names))
def ldif(value, path):
    with open(path, "w") as f:
        for line in open(f"{work}/bulk_dns.txt"):
            f.write(f"dn: {line.strip()}\nchangetype: modify\nreplace: userAccountControl\nuserAccountControl: {value}\n-\n\n")
ldif(546, f"{work}/disable_all.ldif")
ldif(544, f"{work}/enable_all.ldif")
PY
start=$(now_ms)
ldap_as admin ldapadd -f "$WORK/seed.ldif" > /dev/null
echo "seeded $N + $((ONE * 4)) users with one ldapadd in $(( $(now_ms) - start )) ms under $OU"

# riposte configs: the lab's (with its Entra tenant double) and an AD-only one; own ledgers.
sed '/^data_dir/d' "$LAB/riposte.toml" | sed "1i data_dir = \"$WORK/data\"" > "$WORK/riposte.toml"
python3 - "$WORK/riposte.toml" "$WORK/riposte-ad.toml" "$WORK" <<'PY'
import sys
text = open(sys.argv[1]).read()
head, sep, _ = text.partition("[[tenant]]")
open(sys.argv[2], "w").write(head.replace(f'data_dir = "{sys.argv[3]}/data"', f'data_dir = "{sys.argv[3]}/data-ad"'))
PY
# A bulk above [bulk] approval_above waits for a second person; this measures the run, not the wait.
for f in riposte riposte-ad; do printf '\n[bulk]\napproval_above = 1000000\n' >> "$WORK/$f.toml"; done
# The AD-only config with two connections per DC (connections_per_dc = 2): what a second one brings.
sed 's/^bind_dn = /connections_per_dc = 2\nbind_dn = /; s#data-ad"#data-ad1"#' "$WORK/riposte-ad.toml" > "$WORK/riposte-ad1.toml"
grep -A3 '^\[bulk\]' "$WORK/riposte.toml"

echo "== 1. one action, request to verified outcome ($ONE accounts each, median ms)"
one_floor=$(sed "s/^/CN=/; s/\$/,$OU1/" "$WORK/one_floor.txt" | "$FLOOR" "$URL" "$ACTION_DN" "$ACTION_PW" "$CA" 546 | median)
: > "$WORK/t_tools"
while read -r name; do
  s=$(now_ms)
  printf 'dn: CN=%s,%s\nchangetype: modify\nreplace: userAccountControl\nuserAccountControl: 546\n' "$name" "$OU1" | ldap_as action ldapmodify > /dev/null
  ldap_as action ldapsearch -LLL -b "CN=$name,$OU1" -s base userAccountControl | grep -q 'userAccountControl: 546'
  echo $(( $(now_ms) - s )) >> "$WORK/t_tools"
done < "$WORK/one_tools.txt"
one_tools=$(median < "$WORK/t_tools")
: > "$WORK/t_samba"
while read -r name; do
  s=$(now_ms)
  PASSWD="$(cat "$ADMIN_PW")" samba-tool user disable "$name" -H ldap://127.0.0.11 -U Administrator -s "$LAB/corp/etc/smb.conf" > /dev/null
  echo $(( $(now_ms) - s )) >> "$WORK/t_samba"
done < "$WORK/one_samba.txt"
one_samba=$(median < "$WORK/t_samba")
: > "$WORK/t_riposte"
while read -r name; do
  s=$(now_ms)
  out=$(RIPOSTE_LOG=error "$BIN" --config "$WORK/riposte.toml" --json user disable "corp:$name" --reason "bench: single")
  echo $(( $(now_ms) - s )) >> "$WORK/t_riposte"
  echo "$out" | grep -q '"outcome": *"verified"' || { echo "riposte did not verify $name: $out" >&2; exit 1; }
done < "$WORK/one_riposte.txt"
one_riposte=$(median < "$WORK/t_riposte")
printf '%-44s %9s ms\n' "floor: modify + read-back, open connection" "$one_floor" \
  "ldapmodify + ldapsearch (processes)" "$one_tools" "samba-tool user disable" "$one_samba" \
  "riposte user disable (process, verified)" "$one_riposte"

echo "== 2. disable $N accounts ($REPS runs each, median s)"
enable_all() { ldap_as admin ldapmodify -f "$WORK/enable_all.ldif" > /dev/null; }
declare -A T
for rep in $(seq 1 "$REPS"); do
  enable_all; s=$(now_ms)
  ldap_as action ldapmodify -f "$WORK/disable_all.ldif" > /dev/null
  T[floor]+="$(( $(now_ms) - s )) "

  enable_all; s=$(now_ms)
  while read -r dn; do
    printf 'dn: %s\nchangetype: modify\nreplace: userAccountControl\nuserAccountControl: 546\n' "$dn" | ldap_as action ldapmodify > /dev/null
  done < "$WORK/bulk_dns.txt"
  T[loop]+="$(( $(now_ms) - s )) "

  variants="riposte riposte-ad riposte-ad1"
  [ -z "${RIPOSTE_BIN:-}" ] || variants="riposte riposte-ad"
  [ -z "${BEFORE_BIN:-}" ] || variants+=" before"
  for variant in $variants; do
    enable_all; s=$(now_ms)
    if [ "$variant" = before ]; then
      out=$(RIPOSTE_LOG=error "$WORK/riposte-before" --config "$WORK/riposte-ad.toml" --json bulk disable --ou "$OU" --reason "bench: bulk $rep" --quiet)
    else
      out=$(RIPOSTE_LOG=error "$BIN" --config "$WORK/$variant.toml" --json bulk disable --ou "$OU" --reason "bench: bulk $rep" --quiet)
    fi
    T[$variant]+="$(( $(now_ms) - s )) "
    verified=$(echo "$out" | python3 -c 'import sys,json; print(json.load(sys.stdin)["counts"]["verified"])')
    [ "$verified" = "$N" ] || { echo "$variant verified $verified of $N: $out" >&2; exit 1; }
  done
  echo "run $rep (ms): floor $(echo "${T[floor]}" | awk '{print $NF}'), serial loop $(echo "${T[loop]}" | awk '{print $NF}'), riposte $(echo "${T[riposte]}" | awk '{print $NF}'), riposte AD-only $(echo "${T[riposte-ad]}" | awk '{print $NF}'), AD-only two connections $(echo "${T[riposte-ad1]:-}" | awk '{print $NF}'), before (AD-only) $(echo "${T[before]:-}" | awk '{print $NF}')"
done
secs() { echo "$1" | median | awk '{printf "%.3f", $1 / 1000}'; }
b_floor=$(secs "${T[floor]}"); b_loop=$(secs "${T[loop]}"); b_rip=$(secs "${T[riposte]}"); b_ripad=$(secs "${T[riposte-ad]}"); b_ripad1=$( [ -n "${T[riposte-ad1]:-}" ] && secs "${T[riposte-ad1]}" || echo nan)
b_before=$( [ -n "${T[before]:-}" ] && secs "${T[before]}" || echo nan)

# 3. PostgreSQL, two nodes: two `riposte serve` on one fresh PostgreSQL ledger (scripts/postgres),
# AD-only config; POST /api/v1/bulk (the OU) to one node, both drive it; poll GET /api/v1/bulk/{id}
# until finished with every account verified. Prints the figures as JSON (or null with PG_NODES=0).
bench_postgres_two_nodes() {
  [ "${PG_NODES:-2}" = 0 ] && { echo null; return; }
  scripts/postgres up > /dev/null
  local base db url token pids=() addrs=() times="" rep s id state verified
  base=$(cat .lab/postgres.url)
  db="riposte_bench_$$"
  psql "$base" -qc "CREATE DATABASE $db" > /dev/null
  url="${base%/*}/$db"
  { echo "database_url = \"$url\""; grep -v '^database_url' "$WORK/riposte-ad.toml"; } > "$WORK/pg.toml"
  token=$(RIPOSTE_LOG=error "$BIN" --config "$WORK/pg.toml" --json token create --name bench --role admin |
    python3 -c 'import sys,json; print(json.load(sys.stdin)["token"])')
  for n in 1 2; do
    RIPOSTE_LISTEN=127.0.0.1:0 RIPOSTE_LOG=error "$BIN" --config "$WORK/pg.toml" serve > "$WORK/node$n.out" 2>&1 &
    pids+=($!)
  done
  for n in 1 2; do
    for _ in $(seq 1 100); do grep -q 'listening on' "$WORK/node$n.out" && break; sleep 0.1; done
    addrs+=("$(grep -o 'http://[0-9.:]*' "$WORK/node$n.out" | head -1)")
  done
  for rep in $(seq 1 "$REPS"); do
    enable_all; s=$(now_ms)
    id=$(curl -sf -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
      -d "{\"action\":\"disable\",\"selector\":{\"kind\":\"ou\",\"value\":\"$OU\"},\"reason\":\"bench: postgres $rep\"}" \
      "${addrs[0]}/api/v1/bulk" | python3 -c 'import sys,json; print(json.load(sys.stdin)["bulk_id"])')
    while :; do
      read -r state verified < <(curl -sf -H "Authorization: Bearer $token" "${addrs[1]}/api/v1/bulk/$id" |
        python3 -c 'import sys,json; b=json.load(sys.stdin); print(b["state"], b["counts"]["verified"])')
      [ "$state" = finished ] || [ "$state" = cancelled ] && break
      sleep 0.2
    done
    times+="$(( $(now_ms) - s )) "
    [ "$verified" = "$N" ] || { echo "postgres two nodes verified $verified of $N" >&2; kill "${pids[@]}"; exit 1; }
    echo "run $rep (ms): riposte on PostgreSQL, two nodes $(echo "$times" | awk '{print $NF}')" >&2
  done
  kill "${pids[@]}" 2> /dev/null; wait "${pids[@]}" 2> /dev/null || true
  psql "$base" -qc "DROP DATABASE $db" > /dev/null || true
  local med; med=$(secs "$times")
  python3 -c "import json,sys; m=float(sys.argv[1]); n=int(sys.argv[2]); f=float(sys.argv[3]); print(json.dumps({'nodes': 2, 'accounts': n, 'runs': int(sys.argv[4]), 'riposte_s': m, 'accounts_per_s': round(n/m, 1), 'ratio_to_floor': round(m/f, 2)}))" "$med" "$N" "$b_floor" "$REPS"
}
pg=$(bench_postgres_two_nodes)

SUMMARY=$(python3 - "$N" "$REPS" "$ONE" "$PROFILE" "$one_floor" "$one_tools" "$one_samba" "$one_riposte" \
  "$b_floor" "$b_loop" "$b_rip" "$b_ripad" "$b_ripad1" "$pg" "$b_before" <<'PY'
import json, sys, os, platform
a = sys.argv[1:]
n, reps, one, profile = int(a[0]), int(a[1]), int(a[2]), a[3]
f1, t1, s1, r1 = map(float, a[4:8])
fb, lb, rb, rab, rab1 = map(float, a[8:13])
def rate(s): return None if s != s else round(n / s, 1)
def ratio(s): return None if s != s else round(s / fb, 2)
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
mem = next((int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0)
print(json.dumps({
  "machine": {"cores": os.cpu_count(), "memory_gib": round(mem / 1048576, 1), "cpu": cpu, "riposte_build": profile},
  "single_action_ms": {"floor_modify_readback": f1, "ldapmodify_ldapsearch": t1, "samba_tool": s1, "riposte": r1,
                        "ratio_riposte_to_floor": round(r1 / f1, 1), "ratio_riposte_to_ldap_tools": round(r1 / t1, 2),
                        "ratio_riposte_to_samba_tool": round(r1 / s1, 2), "samples": one},
  "bulk": {"accounts": n, "runs": reps,
           "floor_one_ldif_s": fb, "serial_ldapmodify_s": lb, "riposte_s": rb, "riposte_ad_only_s": rab,
           "riposte_ad_only_two_connections_s": None if rab1 != rab1 else rab1,
           "before_ad_only_s": None if float(a[14]) != float(a[14]) else float(a[14]),
           "before_ratio_to_floor": ratio(float(a[14])),
           "accounts_per_s": {"floor": rate(fb), "serial_ldapmodify": rate(lb), "riposte": rate(rb), "riposte_ad_only": rate(rab),
                              "riposte_ad_only_two_connections": rate(rab1)},
           "ratio_to_floor": {"serial_ldapmodify": round(lb / fb, 2), "riposte": round(rb / fb, 2), "riposte_ad_only": round(rab / fb, 2),
                              "riposte_ad_only_two_connections": ratio(rab1)}},
  "postgres_two_nodes": json.loads(a[13]),
}))
PY
)
python3 - "$SUMMARY" <<'PY'
import json, sys
s = json.loads(sys.argv[1]); o = s["single_action_ms"]; b = s["bulk"]
print("one action (median ms): floor %s, ldapmodify+ldapsearch %s, samba-tool %s, riposte %s" % (
    o["floor_modify_readback"], o["ldapmodify_ldapsearch"], o["samba_tool"], o["riposte"]))
for k in ("floor", "serial_ldapmodify", "riposte", "riposte_ad_only", "riposte_ad_only_two_connections"):
    ratio = b["ratio_to_floor"].get(k, 1)
    print("%18s: %8s accounts/s  (%s x the floor's time)" % (k, b["accounts_per_s"][k], ratio))
p = s.get("postgres_two_nodes")
if p:
    print("%18s: %8s accounts/s  (%s x the floor's time)" % ("postgres_2_nodes", p["accounts_per_s"], p["ratio_to_floor"]))
PY
if [ "${BENCH_RECORD:-1}" = 1 ]; then
  python3 - "$SUMMARY" "$N" "$REPS" "$ONE" >> BENCHMARKS.md <<'PY'
import json, sys, datetime
s = json.loads(sys.argv[1]); n, reps, one = sys.argv[2:5]
o, b, m = s["single_action_ms"], s["bulk"], s["machine"]
print(f"\n### Run of {datetime.date.today()}, `bench/bulk.sh {n} {reps} {one}` ({m['riposte_build']} build), {m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB\n")
print("| one action, request to verified outcome | median ms | ratio riposte / this |\n|---|---|---|")
print(f"| floor: LDAP modify + read-back on an open connection | {o['floor_modify_readback']} | {o['ratio_riposte_to_floor']} |")
print(f"| `ldapmodify` + `ldapsearch` (processes) | {o['ldapmodify_ldapsearch']} | {o['ratio_riposte_to_ldap_tools']} |")
print(f"| `samba-tool user disable` | {o['samba_tool']} | {o['ratio_riposte_to_samba_tool']} |")
print(f"| `riposte user disable` (process, CAS write + read-back, ledger, audit) | {o['riposte']} | 1 |\n")
print(f"| disable {n} accounts | median s | accounts/s | time / floor |\n|---|---|---|---|")
print(f"| floor: one `ldapmodify` over one LDIF (one connection, no verification) | {b['floor_one_ldif_s']} | {b['accounts_per_s']['floor']} | 1 |")
print(f"| serial `ldapmodify` loop (no verification) | {b['serial_ldapmodify_s']} | {b['accounts_per_s']['serial_ldapmodify']} | {b['ratio_to_floor']['serial_ldapmodify']} |")
print(f"| `riposte bulk disable --ou` (lab config, Entra double linked) | {b['riposte_s']} | {b['accounts_per_s']['riposte']} | {b['ratio_to_floor']['riposte']} |")
print(f"| `riposte bulk disable --ou` (AD-only config) | {b['riposte_ad_only_s']} | {b['accounts_per_s']['riposte_ad_only']} | {b['ratio_to_floor']['riposte_ad_only']} |")
if b.get("before_ad_only_s"):
    print(f"| before: the older build (BEFORE_BIN), AD-only config | {b['before_ad_only_s']} | {round(int(n) / b['before_ad_only_s'], 1)} | {b['before_ratio_to_floor']} |")
print(f"| `riposte bulk disable --ou` (AD-only, `connections_per_dc = 2`) | {b['riposte_ad_only_two_connections_s']} | {b['accounts_per_s']['riposte_ad_only_two_connections']} | {b['ratio_to_floor']['riposte_ad_only_two_connections']} |")
p = s.get("postgres_two_nodes")
if p:
    print(f"| riposte on PostgreSQL, two `riposte serve` nodes (AD-only config, POST /api/v1/bulk) | {p['riposte_s']} | {p['accounts_per_s']} | {p['ratio_to_floor']} |")
print()
print("Summary (JSON):\n\n```json\n" + json.dumps(s) + "\n```")
PY
fi
echo "$SUMMARY"
