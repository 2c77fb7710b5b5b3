#!/usr/bin/env bash
# Runs the libFuzzer harnesses of Tools/fuzz with AddressSanitizer.
#
#   Tools/fuzz/run.sh [--time SECONDS] [--runs N] [--seed S] [--jobs J] [--keep] [TARGET...]
#
# TARGET is one of the cases of FuzzTarget (default: all). Each target starts from its committed corpus
# (Tools/fuzz/corpus/<target> and Tools/fuzz/crashes/<target>) copied to a scratch folder; --keep merges
# what the fuzzer found back into Tools/fuzz/corpus/<target> (minimised with -merge=1).
# A crash, leak, timeout (> 10 s per input) or allocation over 1 GiB is a finding: its input is written
# to Tools/fuzz/findings/<target>/ and the script exits 1. CI runs `Tools/fuzz/run.sh --runs 20000 --seed 1`:
# a fixed number of executions from a fixed seed, so a clean local run of that command predicts CI's.
set -euo pipefail
cd "$(dirname "$0")/../.."

time_limit=60 time_given=0 runs="" seed="" jobs=1 keep=0 targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --time) time_limit="$2"; time_given=1; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 64 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(safetensors quant-state job-yaml registry-yaml json tokenizer-json chat-template model-config lora-jsonl adapter)

echo "== building bnb-fuzz with -sanitize=fuzzer,address, optimized (.build/fuzz)"
mkdir -p .build
# SwiftPM hands swiftc `-sanitize=fuzzer` and `-sanitize=address` as two flags in a random order (they come
# from a Set), and swiftc keeps only the last one: every other build had Swift code without coverage counters
# (the fuzzers ran blind, at 100k+ executions/s and no new inputs) or without AddressSanitizer. One combined
# flag after them gives both, every time; the counter check below refuses a blind binary.
# Release (-O) keeps Swift's overflow and bounds traps and runs the harnesses 4-10 times faster than a
# debug build (chat templates: 3 200 against 350 executions/s); `swift test` replays every input in debug.
flags=(-c release --scratch-path .build/fuzz --sanitize fuzzer --sanitize address -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING)
build_fuzzer() {
  swift build "${flags[@]}" --product bnb-fuzz 2>&1 | grep -v -e "Cannot export local symbol" -e "warning:" -e "|" || true
}
# Builds into .build/fuzz take a lock where flock exists (several runs of this script may start at once).
if command -v flock >/dev/null 2>&1; then
  exec 9>.build/fuzz.lock
  flock 9
  build_fuzzer
  flock -u 9
else
  build_fuzzer
fi
binary="$(swift build "${flags[@]}" --show-bin-path)/bnb-fuzz"
[ -x "$binary" ] || { echo "bnb-fuzz was not built" >&2; exit 1; }
# The harnesses' Swift code must carry coverage counters (~147 000; the C code alone has ~6 000).
empty="$(mktemp -d)"
counters=$(BNB_FUZZ_TARGET=json ASAN_OPTIONS=detect_leaks=0 "$binary" "$empty" -runs=0 -artifact_prefix="$empty/" 2>&1 | sed -n 's/.*(\([0-9]*\) inline 8-bit counters).*/\1/p' | head -1)
rm -rf "$empty"
if [ "${counters:-0}" -lt 50000 ]; then
  echo "bnb-fuzz has only ${counters:-0} coverage counters: the Swift code is not instrumented; remove .build/fuzz and rerun" >&2
  exit 1
fi
echo "== bnb-fuzz: $counters coverage counters"

status=0
for target in "${targets[@]}"; do
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/corpus" "Tools/fuzz/findings/$target"
  for kind in corpus crashes; do
    [ -d "Tools/fuzz/$kind/$target" ] && cp "Tools/fuzz/$kind/$target"/* "$work/corpus/" 2>/dev/null || true
  done
  limit=(-max_total_time="$time_limit")
  [ -f "Tools/fuzz/dict/$target.dict" ] && limit+=(-dict="Tools/fuzz/dict/$target.dict")
  [ -n "$seed" ] && limit+=(-seed="$seed")
  # --runs alone replaces the time limit; with --time too, whichever comes first ends the run.
  if [ -n "$runs" ]; then
    if [ "$time_given" = 1 ]; then limit+=(-runs="$runs"); else limit[0]=-runs="$runs"; fi
  fi
  # With one job libFuzzer runs in this process (its statistics reach the log below); -jobs=1 would fork a
  # worker that writes them to ./fuzz-0.log instead.
  parallel=()
  [ "$jobs" -gt 1 ] && parallel=(-jobs="$jobs" -workers="$jobs")
  echo "== $target: ${limit[*]}, $jobs job(s)"
  set +e
  BNB_FUZZ_TARGET="$target" ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1" "$binary" "$work/corpus" \
    "${limit[@]}" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 -max_len=65536 -print_final_stats=1 \
    ${parallel[@]+"${parallel[@]}"} -artifact_prefix="Tools/fuzz/findings/$target/" 2>"$work/log"
  code=$?
  set -e
  grep -E "^(stat::|#[0-9]+ *DONE|==[0-9]+==ERROR|SUMMARY|Done [0-9]+ runs)" "$work/log" || tail -20 "$work/log"
  if [ $code -ne 0 ]; then
    echo "!! $target: finding (exit $code); inputs in Tools/fuzz/findings/$target/" >&2
    tail -40 "$work/log" >&2
    status=1
  else
    rmdir "Tools/fuzz/findings/$target" 2>/dev/null || true
  fi
  if [ $keep -eq 1 ] && [ $code -eq 0 ]; then
    BNB_FUZZ_TARGET="$target" "$binary" -merge=1 "Tools/fuzz/corpus/$target" "$work/corpus" 2>/dev/null || true
  fi
  rm -rf "$work"
done
rmdir Tools/fuzz/findings 2>/dev/null || true
exit $status
