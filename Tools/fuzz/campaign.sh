#!/usr/bin/env bash
# Runs a long fuzzing campaign with a prebuilt bnb-fuzz, several targets at once, on a machine with many
# cores (it needs no Swift toolchain: build the binary with Tools/fuzz/run.sh's flags plus
# --static-swift-stdlib and copy it there).
#
#   Tools/fuzz/campaign.sh BINARY OUTDIR [--time SECONDS] [--max-len BYTES] TARGET:JOBS:RUNS...
#
# Each TARGET gets JOBS libFuzzer processes (-jobs/-workers, one shared corpus) that each make RUNS
# executions, or stop at --time seconds (default 540); inputs grow to --max-len bytes (default 65536).
# A target starts from OUTDIR/corpus/<target> when that folder exists (a previous campaign's corpus), else
# from its committed corpus and crash inputs. SwiftPM's resource bundles (swift-bitsandbytes_*.resources)
# must lie beside the binary. The corpus a target ends with stays in OUTDIR/corpus/<target>; findings go
# to OUTDIR/findings/<target>/.
# At the end a table gives, per target, the executions summed over its jobs (libFuzzer's
# stat::number_of_executed_units), the wall time, the corpus growth and the findings; it is also written
# to OUTDIR/summary.txt. Exits 1 when any target has a finding.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
binary="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
out="$(mkdir -p "$2" && cd "$2" && pwd)"
shift 2
time_limit=540 max_len=65536
specs=()
while [ $# -gt 0 ]; do
  case "$1" in
    --time) time_limit="$2"; shift 2 ;;
    --max-len) max_len="$2"; shift 2 ;;
    *) specs+=("$1"); shift ;;
  esac
done
[ ${#specs[@]} -gt 0 ] || { echo "give at least one TARGET:JOBS:RUNS" >&2; exit 64; }

start_target() {
  local target="$1" jobs="$2" runs="$3"
  local corpus="$out/corpus/$target" work="$out/work/$target"
  mkdir -p "$corpus" "$work" "$out/findings/$target"
  if [ -z "$(ls -A "$corpus")" ]; then
    for kind in corpus crashes; do
      [ -d "$repo/Tools/fuzz/$kind/$target" ] && cp "$repo/Tools/fuzz/$kind/$target"/* "$corpus/" 2>/dev/null || true
    done
  fi
  ls "$corpus" | wc -l >"$work/units-before"
  local options=(-runs="$runs" -max_total_time="$time_limit" -timeout=10 -rss_limit_mb=2048
    -malloc_limit_mb=1024 -max_len="$max_len" -print_final_stats=1 -jobs="$jobs" -workers="$jobs"
    -artifact_prefix="$out/findings/$target/")
  [ -f "$repo/Tools/fuzz/dict/$target.dict" ] && options+=(-dict="$repo/Tools/fuzz/dict/$target.dict")
  # With -jobs, libFuzzer writes each job's output to fuzz-<n>.log in the working folder.
  (cd "$work" && date +%s >started && BNB_FUZZ_TARGET="$target" \
    ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1" "$binary" "$corpus" "${options[@]}" \
    >driver.log 2>&1 || true; date +%s >ended) &
}

for spec in "${specs[@]}"; do
  IFS=: read -r target jobs runs <<<"$spec"
  echo "== $target: $jobs job(s) of $runs executions, at most $time_limit s"
  start_target "$target" "$jobs" "$runs"
done
wait

status=0
{
  printf '| target | jobs | seconds | executions | exec/s | corpus before → after | findings |\n'
  printf '|---|---|---|---|---|---|---|\n'
  for spec in "${specs[@]}"; do
    IFS=: read -r target jobs runs <<<"$spec"
    work="$out/work/$target"
    executions=$(cat "$work"/fuzz-*.log 2>/dev/null | sed -n 's/^stat::number_of_executed_units: *//p' | awk '{s += $1} END {print s + 0}')
    seconds=$(($(cat "$work/ended") - $(cat "$work/started")))
    findings=$(ls "$out/findings/$target" | wc -l)
    printf '| `%s` | %s | %s | %s | %s | %s → %s | %s |\n' "$target" "$jobs" "$seconds" "$executions" \
      "$((executions / (seconds > 0 ? seconds : 1)))" "$(cat "$work/units-before")" "$(ls "$out/corpus/$target" | wc -l)" \
      "$findings"
  done
} | tee "$out/summary.txt"
# The table is printed in a subshell (the pipe): count the findings here.
[ -z "$(find "$out/findings" -type f)" ] || status=1
exit $status
