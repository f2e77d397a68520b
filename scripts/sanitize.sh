#!/usr/bin/env bash
# lemma's native code under AddressSanitizer + UndefinedBehaviorSanitizer, or valgrind memcheck.
#   default (npm run test:sanitize): a CPU-only (LEMMA_CUDA=OFF) ASan + UBSan build in
#     build-asan-cpu/ (LEMMA_SANITIZE=address: -O1 -g, every UB check fatal): the addon and every
#     native test; runs every native test (leak detection on), then a subset of the Node tests,
#     one or more files per family, against the instrumented addon (libasan preloaded into node;
#     leak detection off there: node itself does not free everything at exit).
#   --valgrind (npm run test:valgrind): a plain -O1 -g CPU build in build-valgrind/
#     (LEMMA_SANITIZE=valgrind) and every native test under valgrind memcheck (a definite leak
#     is an error). valgrind hides AVX-512 from the program, so the AVX2 and scalar paths run.
#   --emulate: also the ASan + UBSan build of the emulated CUDA device's native tests
#     (scripts/emulated/ci.sh asan: build-asan/, slow to build).
#   --ci (.ci/run): the ASan + UBSan native tests only, attention_cpu_test in its --quick grid.
#   --quick: attention_cpu_test and sparse_attention_test in their --quick grid.
#   --no-node: no Node tests.
# Logs in <build dir>/logs/. Ends with "N passed, N failed" (one count per build, native test
# executable and Node run); exit 0 iff none failed. JOBS=n sets the build parallelism (2).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

MODE=asan
QUICK=0
NODE=1
EMULATE=0
for a in "$@"; do
  case "$a" in
    --valgrind) MODE=valgrind ;;
    --quick) QUICK=1 ;;
    --no-node) NODE=0 ;;
    --ci) QUICK=1; NODE=0 ;;
    --emulate) EMULATE=1 ;;
    *) echo "usage: bash scripts/sanitize.sh [--valgrind] [--quick] [--no-node] [--ci] [--emulate]"; exit 2 ;;
  esac
done
JOBS=${JOBS:-2}
# The Node subset: every family (attention, sparse attention, polytope, dp, poly attention,
# prune, looped, SUBLEQ), its accuracy and its validation (error paths) files; ~1-2 min. Not
# the files with RSS or event-loop-delay bounds (test/14): ASan's shadow memory and slowdown.
NODE_TESTS=${LEMMA_SAN_NODE_TESTS:-"test/10.attention-accuracy.test.ts test/12.attention-validation.test.ts
  test/20.sparse-exactness.test.ts test/24.sparse-validation.test.ts
  test/30.polytope-uniform.test.ts test/35.polytope-oracle.test.ts test/40.dp-sampler.test.ts
  test/45.dp-api.test.ts test/50.poly-attention-exactness.test.ts test/52.poly-attention-validation.test.ts
  test/60.prune-gradient.test.ts test/70.looped-fixed-points.test.ts test/72.looped-subleq.test.ts"}

passed=0
failed=0
start=$(date +%s)
now() { echo $(( $(date +%s) - start )); }
if [ "$MODE" = valgrind ]; then DIR=build-valgrind; else DIR=build-asan-cpu; fi
LOGS=$ROOT/$DIR/logs
mkdir -p "$LOGS"

# record NAME RC LOG: one line per check, the log's tail on failure. A sanitizer report in the
# log fails the check whatever the exit code was.
record() {
  local rc=$2
  if [ "$rc" -eq 0 ] && grep -qE "ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:" "$3"; then rc=1; fi
  if [ "$rc" -eq 0 ]; then
    passed=$((passed + 1))
    echo "[sanitize $(now)s] ok   $1 ($(grep -E '^ *[0-9]+ (passed|tests? passed)' "$3" | tail -n 1 | sed 's/^ *//' | cut -c1-100))"
  else
    failed=$((failed + 1))
    echo "[sanitize $(now)s] FAIL $1 (exit $rc); last lines of $3:"
    grep -nE "ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:|== *ERROR SUMMARY: [1-9]" "$3" | head -n 5 | sed 's/^/    /'
    tail -n 25 "$3" | sed 's/^/    /'
  fi
}
# check NAME TIMEOUT CMD...: runs CMD with its output in $LOGS/NAME.log.
check() {
  local name=$1 t=$2
  shift 2
  timeout --kill-after=10 "$t" "$@" > "$LOGS/$name.log" 2>&1
  record "$name" $? "$LOGS/$name.log"
}

# LEMMA_SAN_TESTS="a_test b_test": only these native tests (default: every test/native/*_test.cc).
TESTS=${LEMMA_SAN_TESTS:-$(cd test/native && ls *_test.cc | sed 's/\.cc$//')}
VERSION=$(node -p "require('./package.json').version")
GEN=""
if command -v ninja > /dev/null; then GEN="-G Ninja"; fi

if [ "$MODE" = asan ]; then
  # cmake-js configures (the addon target needs its variables); cmake builds only what runs here.
  targets=$TESTS
  if [ "$NODE" -eq 1 ]; then targets="lemma $targets"; fi
  check build 3600 bash -c "node $ROOT/node_modules/cmake-js/bin/cmake-js configure --out $DIR \
    --CDLEMMA_CUDA=OFF --CDLEMMA_SANITIZE=address --CDLEMMA_VERSION=$VERSION \
    && cmake --build $DIR --parallel $JOBS --target $(echo $targets)"
  # Every check fatal: ASan exits 67 on its first report, UBSan aborts (-fno-sanitize-recover),
  # LeakSanitizer reports at exit.
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=67:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  for t in $TESTS; do
    args=""
    if [ "$QUICK" -eq 1 ] && { [ "$t" = attention_cpu_test ] || [ "$t" = sparse_attention_test ]; }; then args="--quick"; fi
    check "$t" 1800 "$DIR/$t" $args
  done
  if [ "$NODE" -eq 1 ]; then
    # LD_PRELOAD only on the node commands: other programs under a preloaded ASan may misbehave.
    libasan=$(g++ -print-file-name=libasan.so)
    node_env=(env LD_PRELOAD="$libasan" ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:exitcode=67"
      LEMMA_ADDON="$ROOT/$DIR/Release/lemma.node")
    # The process that runs the tests really has the instrumented addon and the ASan runtime.
    check node-addon-instrumented 120 "${node_env[@]}" node --import tsx -e "
      require('./lib/binding.ts');
      const maps = require('fs').readFileSync('/proc/self/maps', 'utf8');
      const ok = maps.includes('$ROOT/$DIR/Release/lemma.node') && /libasan\.so/.test(maps);
      console.log(ok ? '1 passed: $DIR/Release/lemma.node and libasan loaded' : 'not loaded');
      process.exit(ok ? 0 : 1);"
    check node-tests 1800 "${node_env[@]}" npx ava $NODE_TESTS
  fi
else
  check build 3600 bash -c "cmake -S . -B $DIR $GEN -DLEMMA_CUDA=OFF -DLEMMA_SANITIZE=valgrind > /dev/null \
    && cmake --build $DIR --parallel $JOBS --target $(echo $TESTS)"
  # Memcheck exits 99 on an error (a test failure exits 1); the thread pool's workers live to the
  # end of the process, so their stacks are "possibly lost", never "definitely". To find where an
  # uninitialised value came from, add --track-origins=yes (about twice as slow).
  VG=(valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite
    --errors-for-leak-kinds=definite)
  for t in $TESTS; do
    args=""
    # Under valgrind (~30x slower) the two long grids run in their --quick form.
    if [ "$t" = attention_cpu_test ] || [ "$t" = sparse_attention_test ]; then args="--quick"; fi
    check "$t" 3600 "${VG[@]}" "$DIR/$t" $args
  done
fi

if [ "$EMULATE" -eq 1 ]; then
  emu_log="$LOGS/emulated-asan.log"
  bash scripts/emulated/ci.sh asan > "$emu_log" 2>&1
  emu_status=$?
  grep -E "^\[emulated" "$emu_log"
  emu_counts=$(tail -n 1 "$emu_log")
  ep=$(echo "$emu_counts" | grep -Eo '^[0-9]+ passed' | grep -Eo '^[0-9]+' || true)
  ef=$(echo "$emu_counts" | grep -Eo '[0-9]+ failed' | grep -Eo '^[0-9]+' || true)
  ep=${ep:-0}
  ef=${ef:-0}
  if [ "$emu_status" -ne 0 ] && [ "$ef" -eq 0 ]; then ef=1; fi
  passed=$((passed + ep))
  failed=$((failed + ef))
fi

echo "[sanitize] $MODE total $(now) s"
echo "${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
