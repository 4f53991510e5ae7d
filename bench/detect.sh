#!/usr/bin/env bash
# Throughput and peak memory of `riposte detect` (release build) on a large input, beside the
# parse-only rate of the `evtx` crate on the same EVTX files. Not a test: it prints figures.
#
#   bench/detect.sh [EVTX_COPIES] [JSON_LINES]     (defaults: 200 copies, 1000000 lines)
set -euo pipefail
cd "$(dirname "$0")/.."
COPIES=${1:-200}
LINES=${2:-1000000}
DEV=${EVTX_DEV:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/shared/datasets/evtx-dev}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --release -q -p riposte --bin riposte
cargo build --release -q -p riposte-events --example evtx_parse_only
BIN=$CARGO_TARGET_DIR/release/riposte
PARSE=$CARGO_TARGET_DIR/release/examples/evtx_parse_only
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# EVTX cannot be concatenated: repeat the files instead (each copy is read in full).
mkdir -p "$WORK/evtx"
for i in $(seq 1 "$COPIES"); do
  for f in "$DEV"/*.evtx; do ln -s "$f" "$WORK/evtx/$i-$(basename "$f")"; done
done
EVTX_BYTES=$(( $(cat "$DEV"/*.evtx | wc -c) * COPIES ))

# Generated Winlogbeat-style JSON lines: logons, failures, service tickets from many hosts.
python3 - "$LINES" > "$WORK/events.json" <<'PY'
import json, sys, random
random.seed(7)
n = int(sys.argv[1])
out = sys.stdout
for i in range(n):
    eid = random.choice([4624, 4624, 4624, 4625, 4769, 4768])
    user = f"user{random.randrange(5000)}"
    ed = {"TargetUserName": user, "TargetDomainName": "CORP", "IpAddress": f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(256)}"}
    if eid in (4624, 4625):
        ed["LogonType"] = "3"
        ed["Status"] = "0x0" if eid == 4624 else "0xc000006d"
        ed["SubStatus"] = "0x0" if eid == 4624 else "0xc000006a"
    else:
        ed["ServiceName"] = "krbtgt" if eid == 4768 else f"svc{random.randrange(50)}"
        ed["TicketEncryptionType"] = "0x12"
        ed["PreAuthType"] = "2"
        ed["Status"] = "0x0"
    ts = f"2026-01-01T{(i // 3600000) % 24:02d}:{(i // 60000) % 60:02d}:{(i // 1000) % 60:02d}.{i % 1000:03d}Z"
    out.write(json.dumps({"@timestamp": ts, "winlog": {"event_id": eid, "computer_name": "dc1.corp.test", "record_id": i, "event_data": ed}}) + "\n")
PY
JSON_BYTES=$(wc -c < "$WORK/events.json")

measure() { # label, input bytes, command...
  local label=$1 bytes=$2; shift 2
  local start end
  start=$(date +%s.%N)
  /usr/bin/time -v "$@" > /dev/null 2> "$WORK/time.txt"
  end=$(date +%s.%N)
  local secs rss events
  secs=$(echo "$end - $start" | bc -l)
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.txt")
  events=$(grep -o '[0-9]* event(s)' "$WORK/time.txt" | head -1 | cut -d' ' -f1 || true)
  if [ -z "$events" ]; then events=$(grep -o 'records=[0-9]*' "$WORK/time.txt" | cut -d= -f2 || true); fi
  echo "$label|$events|$secs|$rss" >> "$WORK/results.txt"
  printf '%-32s %9s events %7.2f s %9.0f events/s %7.1f MiB/s  peak RSS %6.1f MiB\n' \
    "$label" "$events" "$secs" "$(echo "$events / $secs" | bc -l)" \
    "$(echo "$bytes / 1048576 / $secs" | bc -l)" "$(echo "$rss / 1024" | bc -l)"
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "EVTX input: $COPIES x $(ls "$DEV"/*.evtx | wc -l) files, $((EVTX_BYTES / 1048576)) MiB; JSON input: $LINES lines, $((JSON_BYTES / 1048576)) MiB"
# The parse-only baseline prints its record count on stdout; send it to the time file too.
# Three rounds, the floor and riposte interleaved in each, so both see the same load; medians.
for round in 1 2 3; do
  measure "evtx crate, parse only (EVTX)" "$EVTX_BYTES" sh -c "$PARSE $WORK/evtx/*.evtx >&2"
  measure "riposte detect (EVTX)" "$EVTX_BYTES" sh -c "$BIN detect --json $WORK/evtx/*.evtx"
done
measure "riposte detect (JSON lines)" "$JSON_BYTES" "$BIN" detect --json "$WORK/events.json"
# The JSON summary (last line): medians and the ratio of riposte detect to the parse-only floor.
python3 - "$WORK/results.txt" "$COPIES" "$(ls "$DEV"/*.evtx | wc -l)" "$EVTX_BYTES" "$LINES" <<'PY'
import json, statistics, sys
rows = [l.rstrip("\n").split("|") for l in open(sys.argv[1])]
def med(label, i):
    return statistics.median(float(r[i]) for r in rows if r[0] == label)
floor, detect = med("evtx crate, parse only (EVTX)", 2), med("riposte detect (EVTX)", 2)
print(json.dumps({
  "bench": "detect", "evtx_files": int(sys.argv[2]) * int(sys.argv[3]), "evtx_mib": round(int(sys.argv[4]) / 1048576, 1),
  "evtx_parse_only_s": round(floor, 3), "riposte_detect_evtx_s": round(detect, 3),
  "ratio_detect_to_parse_only": round(detect / floor, 2),
  "riposte_detect_json_lines_s": round(med("riposte detect (JSON lines)", 2), 3), "json_lines": int(sys.argv[5]),
  "peak_rss_mib": {"parse_only": round(med("evtx crate, parse only (EVTX)", 3) / 1024, 1),
                   "detect_evtx": round(med("riposte detect (EVTX)", 3) / 1024, 1),
                   "detect_json": round(med("riposte detect (JSON lines)", 3) / 1024, 1)},
}))
PY
