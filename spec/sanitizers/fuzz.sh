#!/usr/bin/env bash
# make fuzz: runs the decoder's libFuzzer harness (spec/fuzz/fuzz_decode.c,
# built by the Makefile into build/fuzz/fuzz_decode with
# -fsanitize=fuzzer,address,undefined) for FUZZ_TIME seconds (default 60).
#
# The seed corpus spec/fuzz/corpus is copied into build/fuzz/corpus, which
# libFuzzer grows; the checked-in seeds are never written to.  A crash, a
# leak, a sanitizer report or a timeout leaves its input in build/fuzz/
# (crash-*, leak-*, timeout-*, oom-*) and fails the run; reproduce it with
#   build/fuzz/fuzz_decode build/fuzz/crash-...
# Last line: `fuzz: N executions in S s, corpus C inputs, no crash` (or what
# was found).
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1

time=${FUZZ_TIME:-60}
bin=build/fuzz/fuzz_decode
[ -x "$bin" ] || { echo "fuzz.sh: $bin missing: run make fuzz"; exit 1; }
mkdir -p build/fuzz/corpus
cp -n spec/fuzz/corpus/* build/fuzz/corpus/ 2>/dev/null
dict=()
[ -f spec/fuzz/decode.dict ] && dict=(-dict=spec/fuzz/decode.dict)

log=build/fuzz/last-run.log
"$bin" "${dict[@]}" -max_total_time="$time" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
  -print_final_stats=1 -artifact_prefix=build/fuzz/ build/fuzz/corpus >"$log" 2>&1
status=$?
grep -E '^(stat::|#[0-9]+[[:space:]]+(INITED|DONE))' "$log" | tail -n 7
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | head -n 1)
corpus=$(find build/fuzz/corpus -type f | wc -l)
if [ "$status" -ne 0 ]; then
  echo "# the fuzzer stopped with status $status:"
  grep -E 'ERROR|SUMMARY|==[0-9]+==|Test unit written|check failed' "$log" | head -n 20
  echo "fuzz: ${execs:-?} executions, corpus $corpus inputs, FOUND A PROBLEM (see $log)"
  exit 1
fi
echo "fuzz: ${execs:-?} executions in ${secs:-$time} s, corpus $corpus inputs, no crash"
