#!/usr/bin/env bash
# One action from the CLI on the Samba lab (corp, 127.0.0.11), as a process, side by side with the
# floor in the same run. Not a test: it prints figures and a JSON summary (last line of stdout).
#
#   bench/cli.sh [RUNS]                  (default 15: RUNS disables and RUNS enables per command)
#
#   BENCH_PROFILE=release  the riposte build measured (default release; debug for a quick check)
#   BASELINE_BIN=PATH      also measure another riposte binary (e.g. main's, before a change),
#                          alternating with this one action by action, with the ratio this/baseline
#   BENCH_RECORD=0         do not append to BENCHMARKS.md
#
# Each action is `riposte user disable` then `user enable` on an account of its own (lab config with
# its Entra tenant double and its own ledger): both must come back verified. The floor is what the
# OpenLDAP tools do for the same action as processes: ldapmodify + ldapsearch (the read-back), each
# its own connect and bind; the issue's floor, one modify + read-back on an open, bound connection
# (examples/ldap_floor.rs), is measured too. Then one more run per binary with debug logs to say where the time went
# (phases between log lines; the logging itself adds a little to each).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-15}
PROFILE=${BENCH_PROFILE:-release}
LAB=${RIPOSTE_LAB_DIR:-$(cd .lab && pwd -P)}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
if [ "$PROFILE" = release ]; then REL=--release; else REL=; fi
cargo build $REL -q -p riposte --bin riposte
cargo build $REL -q -p riposte-ad --example ldap_floor

BASE="DC=corp,DC=example,DC=test"
TAG=benchcli$$
OU="OU=$TAG,OU=Staff,$BASE"
WORK=$(mktemp -d)
# A copy: a rebuild during the run must not change what is measured.
cp "$CARGO_TARGET_DIR/$PROFILE/riposte" "$CARGO_TARGET_DIR/$PROFILE/examples/ldap_floor" "$WORK/"
[ -n "${BASELINE_BIN:-}" ] && cp "$BASELINE_BIN" "$WORK/riposte-baseline"
admin() { LDAPTLS_CACERT="$LAB/ca/ca.pem" "$1" -H ldaps://127.0.0.11 -x -D "CN=Administrator,CN=Users,$BASE" -y "$LAB/corp/admin.secret" "${@:2}"; }
cleanup() {
  admin ldapdelete -e '!1.2.840.113556.1.4.805' "$OU" > /dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap "exit 130" INT TERM

# NORMAL_ACCOUNT + PASSWD_NOTREQD (544): enabled, no password to hash.
{
  printf 'dn: %s\nobjectClass: organizationalUnit\n\n' "$OU"
  for who in floor new old; do
    for i in $(seq 1 "$RUNS"); do
      printf 'dn: CN=%s%s%s,%s\nobjectClass: user\nsAMAccountName: %s%s%s\nuserAccountControl: 544\n\n' \
        "$TAG" "$who" "$i" "$OU" "$TAG" "$who" "$i"
    done
  done
} > "$WORK/seed.ldif"
admin ldapadd -f "$WORK/seed.ldif" > /dev/null
# The lab config with its own ledger, without tailing the DCs' logs.
python3 - "$LAB/riposte.toml" "$WORK" <<'PY'
import sys
src, work = sys.argv[1], sys.argv[2]
out, skip = [f'data_dir = "{work}/data"'], False
for line in open(src).read().splitlines():
    s = line.strip()
    if s == "[[ingest]]": skip = True
    elif s.startswith("[") or not s: skip = False
    if not skip and not s.startswith("data_dir"): out.append(line)
open(f"{work}/riposte.toml", "w").write("\n".join(out) + "\n")
PY

SUMMARY=$(python3 - "$WORK" "$LAB" "$OU" "$TAG" "$RUNS" "$PROFILE" <<'PY'
import json, os, re, statistics, subprocess, sys, time
work, lab, ou, tag, runs, profile = sys.argv[1:5] + [int(sys.argv[5]), sys.argv[6]]
conf = f"{work}/riposte.toml"
bins = {"new": f"{work}/riposte"}
if os.path.exists(f"{work}/riposte-baseline"):
    bins["old"] = f"{work}/riposte-baseline"
env = dict(os.environ, LDAPTLS_CACERT=f"{lab}/ca/ca.pem", LDAPTLS_REQCERT="demand", RIPOSTE_LOG="error")
action_dn = f"CN=riposte-action,OU=Service,{'DC=corp,DC=example,DC=test'}"
uac = {"disable": 546, "enable": 544}

def timed(argv, stdin=None, e=env):
    t = time.perf_counter()
    p = subprocess.run(argv, input=stdin, capture_output=True, text=True, env=e)
    return time.perf_counter() - t, p

def floor(name, action):
    dn = f"CN={name},{ou}"
    ldif = f"dn: {dn}\nchangetype: modify\nreplace: userAccountControl\nuserAccountControl: {uac[action]}\n"
    auth = ["-H", "ldaps://127.0.0.11", "-x", "-D", action_dn, "-y", f"{lab}/corp/action.secret"]
    t1, p1 = timed(["ldapmodify", *auth], ldif)
    t2, p2 = timed(["ldapsearch", *auth, "-LLL", "-b", dn, "-s", "base", "userAccountControl"])
    assert p1.returncode == 0 and f"userAccountControl: {uac[action]}" in p2.stdout, p1.stderr + p2.stderr
    return (t1 + t2) * 1000

def riposte(which, name, action, e=env):
    t, p = timed([bins[which], "--config", conf, "--json", "user", action, f"corp:{name}",
                  "--reason", "bench: cli"], e=e)
    assert json.loads(p.stdout)["outcome"] == "verified", p.stdout + p.stderr
    return t * 1000, p.stderr

# The open-connection floor: one modify + read-back per account on one bound connection.
def open_floor(value):
    dns = "".join(f"CN={tag}floor{i},{ou}\n" for i in range(1, runs + 1))
    p = subprocess.run([f"{work}/ldap_floor", "ldaps://127.0.0.11", action_dn, f"{lab}/corp/action.secret",
                        f"{lab}/ca/ca.pem", str(value)], input=dns, capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    return [float(x) for x in p.stdout.split()]
open_ms = open_floor(546) + open_floor(544)

samples = {k: [] for k in ["floor", *bins]}
for i in range(1, runs + 1):
    for action in ("disable", "enable"):
        samples["floor"].append(floor(f"{tag}floor{i}", action))
        for which in bins:
            samples[which].append(riposte(which, f"{tag}{which}{i}", action)[0])

# Where the time went: log lines of one process, relative to its start.
MARKS = [
    ("config, Entra client, ledger open + migrations check", r"SELECT \* FROM jobs WHERE state = 'running'"),
    ("recover, operator, AD lookup until TLS starts", r"No cached session for"),
    ("TLS: random generator, ClientHello, DC's ServerHello", r"Using ciphersuite"),
    ("TLS finish + LDAP bind", r"bound as the action account"),
    ("AD read, Graph token + linked-account lookup", r"INSERT INTO jobs \("),
    ("job: ledger, pre-flight, write, read-back", r"job finished"),
]
STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z")
def epoch(stamp):
    whole, frac = stamp.split(".")
    return time.mktime(time.strptime(whole, "%Y-%m-%dT%H:%M:%S")) - time.timezone + float("0." + frac)
log_env = dict(env, RIPOSTE_LOG="warn,sqlx::query=debug,rustls::client=debug,riposte_ad=debug,riposte_jobs=info", NO_COLOR="1")
phases = {}
for which in bins:
    rows = {m[0]: [] for m in MARKS}
    rows["audit append, output, exit"] = []
    for i in range(1, runs + 1):
        for action in ("disable", "enable"):
            start = time.time()
            total, log = riposte(which, f"{tag}{which}{i}", action, e=log_env)
            end = start + total / 1000
            at, prev = {}, start
            for name, pattern in MARKS:
                line = next((l for l in log.splitlines() if re.search(pattern, l)), None)
                t = epoch(STAMP.match(re.sub(r"\x1b\[[0-9;]*m", "", line)).group(1)) if line else prev
                rows[name].append((t - prev) * 1000)
                prev = t
            rows["audit append, output, exit"].append((end - prev) * 1000)
    phases[which] = {k: round(statistics.median(v), 1) for k, v in rows.items()}

med = {k: round(statistics.median(v), 1) for k, v in samples.items()}
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
mem = next((int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0)
out = {
    "machine": {"cores": os.cpu_count(), "memory_gib": round(mem / 1048576, 1), "cpu": cpu, "riposte_build": profile},
    "actions": 2 * runs,
    "median_ms": {"floor_open_connection": round(statistics.median(open_ms), 2),
                  "floor_ldapmodify_ldapsearch": med["floor"], "riposte": med["new"]},
    "ratio_riposte_to_floor": round(med["new"] / med["floor"], 2),
    "ratio_riposte_to_open_connection_floor": round(med["new"] / statistics.median(open_ms), 1),
    "phases_ms": phases["new"],
}
if "old" in bins:
    ratios = [n / o for n, o in zip(samples["new"], samples["old"])]
    out["median_ms"]["riposte_baseline"] = med["old"]
    out["ratio_baseline_to_floor"] = round(med["old"] / med["floor"], 2)
    out["ratio_riposte_to_baseline_paired"] = round(statistics.median(ratios), 3)
    out["phases_ms_baseline"] = phases["old"]
print(json.dumps(out))
PY
)
python3 - "$SUMMARY" <<'PY'
import json, sys
s = json.loads(sys.argv[1]); m = s["median_ms"]
print(f"one action as a process ({s['actions']} each, median ms): floor (ldapmodify + ldapsearch) {m['floor_ldapmodify_ldapsearch']}, riposte {m['riposte']} ({s['ratio_riposte_to_floor']}x)")
print(f"open-connection floor (modify + read-back, examples/ldap_floor) {m['floor_open_connection']} ms: riposte {s['ratio_riposte_to_open_connection_floor']}x")
if "riposte_baseline" in m:
    print(f"baseline riposte {m['riposte_baseline']} ({s['ratio_baseline_to_floor']}x); this / baseline, paired: {s['ratio_riposte_to_baseline_paired']}")
for k, v in s["phases_ms"].items():
    print(f"  {k:55s} {v:7.1f}" + (f"   (baseline {s['phases_ms_baseline'][k]:.1f})" if "phases_ms_baseline" in s else ""))
PY
if [ "${BENCH_RECORD:-1}" = 1 ]; then
  python3 - "$SUMMARY" "$RUNS" >> BENCHMARKS.md <<'PY'
import json, sys, datetime
s, runs = json.loads(sys.argv[1]), sys.argv[2]; m, mc = s["median_ms"], s["machine"]
print(f"\n### Run of {datetime.date.today()}, `bench/cli.sh {runs}` ({mc['riposte_build']} build), {mc['cores']} cores ({mc['cpu']}), {mc['memory_gib']} GiB\n")
print("| one action as a process | median ms | ratio to the floor |\n|---|---|---|")
print(f"| floor: modify + read-back on an open, bound connection (examples/ldap_floor) | {m['floor_open_connection']} | riposte: {s['ratio_riposte_to_open_connection_floor']} |")
print(f"| floor: `ldapmodify` + `ldapsearch` | {m['floor_ldapmodify_ldapsearch']} | 1 |")
if "riposte_baseline" in m:
    print(f"| `riposte user disable`/`enable`, baseline | {m['riposte_baseline']} | {s['ratio_baseline_to_floor']} |")
print(f"| `riposte user disable`/`enable` | {m['riposte']} | {s['ratio_riposte_to_floor']} |\n")
print("Summary (JSON):\n\n```json\n" + json.dumps(s) + "\n```")
PY
fi
echo "$SUMMARY"
