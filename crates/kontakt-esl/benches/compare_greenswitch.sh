#!/usr/bin/env bash
# Decode throughput of kontakt-esl vs the Python greenswitch parser on the same capture
# bytes (plain events; greenswitch does not parse json), one core each, and the ratio.
#
#   pip install greenswitch            # once
#   crates/kontakt-esl/benches/compare_greenswitch.sh
#
# Uses CARGO_TARGET_DIR if set (e.g. /work/main/target-esl), else the workspace target/.
# KONTAKT_BENCH_CLOCK=cpu times both sides by their thread's CPU time instead of the wall
# clock (for a shared machine; see benches/decode.rs).
set -euo pipefail
crate="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$crate/../../target}"
python="${PYTHON:-python3}"

(cd "$crate" && cargo bench -p kontakt-esl --bench decode -- 'plain/events' >/dev/null 2>&1)
"$python" "$crate/benches/greenswitch_parse.py" \
    "$crate/tests/fixtures/echo_9196/esl_plain.rx" \
    "$crate/tests/fixtures/originate_bgapi/esl_plain.rx" > "$target/greenswitch.jsonl"

"$python" - "$target" <<'PY'
import json, sys
target = sys.argv[1]
names = {"echo_9196/esl_plain.rx": "echo_plain", "originate_bgapi/esl_plain.rx": "originate_plain"}
print(f"{'stream':18} {'events':>6} {'kontakt-esl ev/s':>17} {'MB/s':>7} {'greenswitch ev/s':>17} {'MB/s':>7} {'ratio':>6}")
for line in open(f"{target}/greenswitch.jsonl"):
    g = json.loads(line)
    name = next(v for k, v in names.items() if g["file"].endswith(k))
    est = json.load(open(f"{target}/criterion/decode/{name}_events/new/estimates.json"))
    secs = est["mean"]["point_estimate"] / 1e9  # one pass over the whole capture
    ours = g["events"] / secs
    print(f"{name:18} {g['events']:>6} {ours:>17,.0f} {g['bytes'] / secs / 1e6:>7.0f} "
          f"{g['events_per_s']:>17,.0f} {g['mb_per_s']:>7.1f} {ours / g['events_per_s']:>5.1f}x")
PY
