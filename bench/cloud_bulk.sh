#!/usr/bin/env bash
# Bulk Entra work through the Graph TEST DOUBLE (issue #17): `riposte bulk disable --from-file` over
# ACCOUNTS cloud-only users, each looked up, read, written once and read back (verified), the same
# inputs side by side. Not a test: it prints figures and a JSON summary (last line of stdout), and
# appends a section to BENCHMARKS.md.
#
#   bench/cloud_bulk.sh [ACCOUNTS]        (default: 1000 users)
#
#   BENCH_PROFILE=debug    measure the dev build the tests use (default: release)
#   BENCH_RECORD=0         do not append to BENCHMARKS.md
#   BENCH_LAB=DIR          the lab directory (default .lab; a worktree uses its main checkout's)
#
# Graph requests are what the double counts (/_double/stats: every authenticated Graph request; a
# `$batch` is one request carrying up to 20 sub-requests; token requests are not counted).
# - before: each request on its own, as riposte did before `$batch` coalescing (`batch = false` on
#   the tenant, `[bulk] per_tenant = 4`, the old default);
# - after:  the defaults (`batch` on; `[bulk] per_tenant` as riposte ships it).
# Each run starts from a fresh double (every user enabled) and a fresh ledger. Needs the lab's
# configuration (scripts/lab up: forests, the Graph client secret); the lab's own double is not used.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}
PROFILE=${BENCH_PROFILE:-release}
LAB=$(cd "${BENCH_LAB:-.lab}" && pwd -P)   # BENCH_LAB: another checkout's lab directory
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
if [ "$PROFILE" = release ]; then REL=--release; else REL=; fi
cargo build $REL -q -p riposte --bin riposte
cargo build $REL -q -p riposte-graph-double --bin riposte-graph-double
WORK=$(mktemp -d)
# Copies: a rebuild during the run must not change what is measured.
cp "$CARGO_TARGET_DIR/$PROFILE/riposte" "$CARGO_TARGET_DIR/$PROFILE/riposte-graph-double" "$WORK/"
DOUBLE_PID=
cleanup() {
  [ -n "$DOUBLE_PID" ] && kill "$DOUBLE_PID" 2> /dev/null || true
  [ "${BENCH_KEEP:-0}" = 1 ] && echo "kept $WORK" >&2 || rm -rf "$WORK"
}
trap cleanup EXIT
trap "exit 130" INT TERM
now_ms() { date +%s%3N; }

python3 - "$N" "$WORK" <<'PY'
import json, sys
n, work = int(sys.argv[1]), sys.argv[2]
users = [{"id": f"00000000-0000-0000-0000-0000b{i:07d}", "userPrincipalName": f"cloud{i}@contoso.example",
          "displayName": f"Cloud {i}", "mail": f"cloud{i}@contoso.example"} for i in range(n)]
json.dump(users, open(f"{work}/users.json", "w"))
open(f"{work}/refs.txt", "w").write("".join(f"contoso:{u['userPrincipalName']}\n" for u in users))
PY
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
DOUBLE=127.0.0.1:$PORT

start_double() {
  [ -n "$DOUBLE_PID" ] && { kill "$DOUBLE_PID"; wait "$DOUBLE_PID" 2> /dev/null || true; }
  "$WORK/riposte-graph-double" --listen "$DOUBLE" --users "$WORK/users.json" --tenant contoso-lab-tenant \
    --client-id riposte-lab-app --client-secret-file "$LAB/graph/client.secret" > "$WORK/double.log" 2>&1 &
  DOUBLE_PID=$!
  for _ in $(seq 1 100); do curl -sf "http://$DOUBLE/_double/stats" > /dev/null && return; sleep 0.1; done
  echo "the Graph double did not start: $(cat "$WORK/double.log")" >&2
  exit 1
}

# The lab's config with this run's double, ledger and bulk limits. approval_above is above the
# count: a second person's approval is not what is measured (it would hold the bulk before its
# first child), and every reference is still checked by the same policy and safeguards.
config() { # variant batch per_tenant(empty: the default)
  local variant=$1 batch=$2 per_tenant=$3
  python3 - "$LAB/riposte.toml" "$WORK/$variant.toml" "$WORK/data-$variant" "$DOUBLE" "$batch" "$N" "$per_tenant" <<'PY'
import re, sys
src, dst, data, double, batch, n, per_tenant = sys.argv[1:8]
text = open(src).read()
text = re.sub(r'(?m)^data_dir = .*$', '', text)
text = f'data_dir = "{data}"\n' + text.replace("127.0.0.1:8441", double)
text = text.replace(f'graph_url = "http://{double}/v1.0"', f'graph_url = "http://{double}/v1.0"\nbatch = {batch}')
bulk = f"\n[bulk]\napproval_above = {int(n) + 1}\n" + (f"per_tenant = {per_tenant}\n" if per_tenant else "")
open(dst, "w").write(text + bulk)
PY
}
config before false 4
config after true ""

run() { # variant -> $WORK/variant.figures: "requests batches sub_requests ms verified" (not in a subshell: it keeps DOUBLE_PID)
  local variant=$1 s out
  start_double
  curl -sf -X DELETE "http://$DOUBLE/_double/stats" > /dev/null
  s=$(now_ms)
  out=$(RIPOSTE_LOG=error "$WORK/riposte" --config "$WORK/$variant.toml" --json bulk disable \
    --from-file "$WORK/refs.txt" --reason "bench: cloud bulk $variant" --quiet)
  local ms=$(( $(now_ms) - s ))
  echo "$out" > "$WORK/$variant.out"
  curl -sf "http://$DOUBLE/_double/stats" > "$WORK/$variant.stats"
  curl -sf "http://$DOUBLE/_double/users" > "$WORK/$variant.users"
  python3 - "$WORK/$variant.out" "$WORK/$variant.stats" "$WORK/$variant.users" "$ms" "$N" > "$WORK/$variant.figures" <<'PY'
import json, sys
out, stats, users = (json.load(open(p)) for p in sys.argv[1:4])
ms, n = int(sys.argv[4]), int(sys.argv[5])
verified = out["counts"]["verified"]
disabled = sum(1 for u in users["users"] if not u["accountEnabled"])
once = sum(1 for v in stats["writes_applied"].values() if v == 1)
if not (verified == n == disabled == once == len(stats["writes_applied"])):
    sys.exit(f"not every user verified, disabled and written once: verified {verified}, disabled {disabled}, written once {once} of {n}")
print(stats["requests"], stats["batches"], stats["sub_requests"], ms, verified)
PY
}

echo "== disable $N cloud-only users through the Graph double (every one looked up, read, written once, read back)"
run before
read -r b_req b_bat b_sub b_ms b_ver < "$WORK/before.figures"
printf '%-58s %6s requests (%s in $batch), %6.1f s\n' "before: each request alone, per_tenant = 4" "$b_req" "$b_bat" "$(echo "$b_ms" | awk '{print $1/1000}')"
run after
read -r a_req a_bat a_sub a_ms a_ver < "$WORK/after.figures"
printf '%-58s %6s requests (%s $batch carrying %s), %6.1f s\n' "after: coalesced into \$batch (defaults)" "$a_req" "$a_bat" "$a_sub" "$(echo "$a_ms" | awk '{print $1/1000}')"

summary=$(python3 -c '
import json, sys
n, br, bm, ar, ab, asub, am, av = (int(x) for x in sys.argv[1:9])
print(json.dumps({"bench": "cloud_bulk", "profile": sys.argv[9], "users": n,
  "before": {"graph_requests": br, "per_user": round(br / n, 3), "wall_s": round(bm / 1000, 2)},
  "after": {"graph_requests": ar, "batches": ab, "sub_requests": asub, "per_user": round(ar / n, 3), "wall_s": round(am / 1000, 2)},
  "requests_ratio_after_to_before": round(ar / br, 4), "wall_ratio_after_to_before": round(am / bm, 3),
  "verified": av, "all_verified": av == n}))' "$N" "$b_req" "$b_ms" "$a_req" "$a_bat" "$a_sub" "$a_ms" "$a_ver" "$PROFILE")

if [ "${BENCH_RECORD:-1}" != 0 ]; then
  cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
  mem=$(free -g | awk '/^Mem:/ {print $2 " GiB"}')
  {
    echo
    echo "## Bulk Entra work through \`\$batch\` (issue #17): $(date -u +%Y-%m-%d), $PROFILE build"
    echo
    echo "Machine: $(nproc) cores, $cpu, $mem RAM. Command: \`bench/cloud_bulk.sh $N\` (BENCH_PROFILE=$PROFILE)."
    echo
    echo "| $N cloud-only users, \`riposte bulk disable --from-file\`, each verified | Graph requests | per user | wall |"
    echo "|---|---|---|---|"
    echo "| before: each request alone (\`batch = false\`, \`per_tenant = 4\`) | $b_req | $(python3 -c "print(round($b_req/$N,2))") | $(echo "$b_ms" | awk '{printf "%.1f s", $1/1000}') |"
    echo "| after: coalesced into \`\$batch\` (defaults) | $a_req ($a_bat \`\$batch\` carrying $a_sub) | $(python3 -c "print(round($a_req/$N,3))") | $(echo "$a_ms" | awk '{printf "%.1f s", $1/1000}') |"
    echo
    echo "Requests after/before: $(python3 -c "print(round($a_req/$b_req,4))"); wall after/before: $(python3 -c "print(round($a_ms/$b_ms,3))"). All $a_ver verified in both runs (the double's state and its per-user write counter agree: one write each)."
    echo
    echo '```json'
    echo "$summary"
    echo '```'
  } >> BENCHMARKS.md
fi
echo "$summary"
