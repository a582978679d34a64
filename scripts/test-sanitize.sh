#!/usr/bin/env bash
# The C++ kernel tests under sanitizers (GCC or Clang; cmake/sanitize.cmake has the flags):
#   build-asan/  AddressSanitizer + LeakSanitizer + UndefinedBehaviorSanitizer (every UB aborts):
#                the whole lowbit_tests suite, every ISA this CPU runs;
#   build-tsan/  ThreadSanitizer: the thread pool and concurrent kernel calls (the tests whose name
#                contains "parallel_": native/tests/parallel_test.cc, parallel_stress_test.cc;
#                LOWBIT_TSAN_FILTER= runs every test under TSan).
# Usage: scripts/test-sanitize.sh [asan|tsan|all]   (default all; JOBS=N for the build, default 2)
# Wall time on a 2-core machine from a clean checkout: see README.md (Development).
# Prints each run's output, its wall time, and a last line "N passed, N failed" over both runs; a
# sanitizer report (or a run that ends without its result line) counts as a failure. Exit 0 when
# nothing failed.
set -uo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
jobs=${JOBS:-2}
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
total_pass=0
total_fail=0

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", b - a }'; }

# ISAs this CPU cannot run are left out of the instrumented builds: their tests would be skipped,
# and the AVX-512 translation units were ~40% of the ASan build's time (the embedding kernels' alone
# ~5 min of CPU). LOWBIT_SANITIZE_ALL_ISAS=1 builds them anyway.
skip_isas=""
if [ "$(uname -m)" = x86_64 ] && [ -z "${LOWBIT_SANITIZE_ALL_ISAS:-}" ] && [ -r /proc/cpuinfo ]; then
  flags=$(grep -m1 '^flags' /proc/cpuinfo)
  for f in avx512f avx512bw avx512dq avx512vl avx512_vnni; do
    case " $flags " in *" $f "*) ;; *) skip_isas=avx512 ;; esac
  done
  [ -n "$skip_isas" ] && echo "note: this CPU has no AVX-512 (+VNNI): the sanitizer builds leave those kernels out"
fi

# build <dir> <sanitizers>
build() {
  local t0 t1
  t0=$(now)
  if ! { cmake -S . -B "$1" -DLOWBIT_BUILD_TESTS=ON -DLOWBIT_SANITIZE="$2" -DCMAKE_BUILD_TYPE=Release -DLOWBIT_SKIP_ISAS="$skip_isas" &&
    cmake --build "$1" -j"$jobs"; } >"$log/build-$1.log" 2>&1; then
    tail -n 60 "$log/build-$1.log"
    echo "!!! $1: build failed"
    return 1
  fi
  t1=$(now)
  echo "built $1 in $(secs "$t0" "$t1") s"
}

# run <label> <logfile> <command...>: adds the run's counts; a run with a sanitizer report or
# without its result line adds one failure.
run() {
  local label=$1 out=$2 t0 t1 rc line p f
  shift 2
  t0=$(now)
  "$@" >"$out" 2>&1
  rc=$?
  t1=$(now)
  cat "$out"
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
  if [ -n "$line" ]; then
    p=$(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/')
    f=$(echo "$line" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
  else
    p=$(grep -c '^ok ' "$out")
    f=0
  fi
  if grep -qE '^(==[0-9]+==ERROR|SUMMARY: (Address|Leak|Thread|UndefinedBehavior)Sanitizer|WARNING: ThreadSanitizer)|runtime error:' "$out" ||
    [ -z "$line" ] || { [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; }; then
    echo "!!! $label: sanitizer report or abnormal end (exit $rc)"
    f=$((f + 1))
  fi
  echo ">>> $label: $p passed, $f failed in $(secs "$t0" "$t1") s"
  total_pass=$((total_pass + p))
  total_fail=$((total_fail + f))
}

if [ "$what" = all ] || [ "$what" = asan ]; then
  echo "=== ASan + UBSan: the full C++ suite"
  if build build-asan address,undefined; then
    # LeakSanitizer needs to stop the world with ptrace-like means, which some sandboxes refuse:
    # check that it works here (a run of no test) and say so when it does not.
    leaks=1
    if ! ASAN_OPTIONS=detect_leaks=1 ./build-asan/lowbit_tests no-test-has-this-name >"$log/lsan-probe.log" 2>&1; then
      leaks=0
      echo "note: LeakSanitizer does not work on this machine, running without leak checks:"
      tail -n 3 "$log/lsan-probe.log"
    fi
    # halt at the first error; check_initialization_order and detect_stack_use_after_return catch
    # more than the defaults; UBSan is built with -fno-sanitize-recover, halt_on_error says it again.
    ASAN_OPTIONS="detect_leaks=$leaks:halt_on_error=1:check_initialization_order=1:strict_init_order=1:detect_stack_use_after_return=1:strict_string_checks=1" \
      UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
      run "ASan+UBSan (leaks=$leaks)" "$log/asan.log" ./build-asan/lowbit_tests
  else
    total_fail=$((total_fail + 1))
  fi
fi

if [ "$what" = all ] || [ "$what" = tsan ]; then
  echo
  echo "=== TSan: the thread pool and concurrent kernel calls"
  if build build-tsan thread; then
    # second_deadlock_stack: full stacks for lock-order reports. LOWBIT_TEST_SCALE=200: twice the
    # stress tests' default repetitions (more interleavings; ~5 s here). LOWBIT_TSAN_FILTER= (empty)
    # runs the whole suite under TSan instead (~100 s; most other tests run on one thread).
    filter=${LOWBIT_TSAN_FILTER-parallel_}
    TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1" LOWBIT_TEST_SCALE=${LOWBIT_TEST_SCALE:-200} \
      run "TSan (${filter:-all tests})" "$log/tsan.log" ./build-tsan/lowbit_tests $filter
  else
    total_fail=$((total_fail + 1))
  fi
fi

echo
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
