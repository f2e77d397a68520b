#!/usr/bin/env bash
# Every CUDA kernel of lemma, run on the emulated CUDA device (LEMMA_CUDA=EMULATE, cuda/emulate/):
#   1. build the emulated addon and native tests (build-emulate/)
#   2. the attention parity test (every kernel and tile variant vs the fp64 oracle) under the
#      limits of three architectures: sm_80 (163 KiB of shared memory per block), sm_86 (99 KiB),
#      sm_90 (227 KiB, blocks in reverse order); and a device too small for some tiles
#   3. the other native CUDA tests (sparse attention, Dikin walk, dp queries, the emulator's own
#      tests, the tensor-core self-test)
#   4. the JS GPU tests (test/gpu/) against the emulated addon, under ava and compiled under the
#      GPU bundle's ava stand-in
#   5. ThreadSanitizer and 6. AddressSanitizer + UBSan builds of the native CUDA tests
#   7. mutants: planted kernel bugs, each of which must make its test fail
# Usage: bash scripts/emulated/ci.sh [step ...]   (steps: build parity native js tsan asan mutants;
# default all). Logs in build-emulate/logs/. Ends with "N passed, N failed" (one count per step).
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
LOGS=$ROOT/build-emulate/logs
mkdir -p "$LOGS"
STEPS=${*:-build parity native js tsan asan mutants}
passed=0
failed=0
start=$(date +%s)
want() { [[ " $STEPS " == *" $1 "* ]]; }
now() { echo $(( $(date +%s) - start )); }

# record NAME RC LOG: one line per check, the log's tail on failure.
record() {
  if [ "$2" -eq 0 ]; then
    passed=$((passed + 1))
    echo "[emulated $(now)s] ok   $1 ($(tail -n 1 "$3" | cut -c1-120))"
  else
    failed=$((failed + 1))
    echo "[emulated $(now)s] FAIL $1 (exit $2); last lines of $3:"
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

CMAKE_JS="node $ROOT/node_modules/cmake-js/bin/cmake-js"
VERSION=$(node -p "require('./package.json').version")

if want build; then
  check build 1200 $CMAKE_JS build --out build-emulate --CDLEMMA_CUDA=EMULATE --CDLEMMA_VERSION="$VERSION" --parallel 2
fi

if want parity; then
  # Three architectures at once on two cores: each log says which tile variants ran.
  LEMMA_EMULATE_ARCH=8.0 timeout 1200 build-emulate/attention_cuda_test --emulated > "$LOGS/parity-sm80.log" 2>&1 &
  p80=$!
  LEMMA_EMULATE_ARCH=8.6 timeout 1200 build-emulate/attention_cuda_test --emulated > "$LOGS/parity-sm86.log" 2>&1 &
  p86=$!
  LEMMA_EMULATE_ARCH=9.0 LEMMA_EMU_BLOCK_ORDER=reverse timeout 1200 build-emulate/attention_cuda_test --emulated \
    > "$LOGS/parity-sm90.log" 2>&1 &
  p90=$!
  wait $p80; record parity-sm80 $? "$LOGS/parity-sm80.log"
  wait $p86; record parity-sm86 $? "$LOGS/parity-sm86.log"
  wait $p90; record parity-sm90 $? "$LOGS/parity-sm90.log"
  # A device with less shared memory than any tile variant needs: clear ERR_CUDA refusals, and
  # the kernels that do fit still run.
  check parity-no-fit 600 env LEMMA_EMULATE_ARCH=8.6 LEMMA_EMULATE_SMEM_OPTIN=70000 \
    build-emulate/attention_cuda_test --emulated --filter NONE
fi

# The native CUDA tests besides attention's (each ends "N passed, M failed"; exit 0 iff M = 0).
NATIVE_TESTS="sparse_attention_cuda_test polytope_cuda_test dp_cuda_test nn_cuda_test emulator_test tensor_core_selftest"
run_native() {  # DIR SUFFIX
  local dir=$1 sfx=$2 t
  for t in $NATIVE_TESTS; do
    if [ -x "$dir/$t" ]; then
      check "$t$sfx" 900 "$dir/$t"
    else
      echo "missing $dir/$t (not built)" > "$LOGS/$t$sfx.log"
      record "$t$sfx" 1 "$LOGS/$t$sfx.log"
    fi
  done
}

if want native; then
  run_native build-emulate ""
fi

if want js; then
  check js-gpu-tests 1800 env LEMMA_ADDON="$ROOT/build-emulate/Release/lemma.node" npx ava test/gpu/
  # The same tests as the GPU bundle runs them: compiled JS under its ava stand-in
  # (scripts/gpu-bundle/ava-shim.js), so a test that needs more of ava than the stand-in has
  # fails here rather than on a GPU host.
  check js-gpu-tests-bundled 1800 bash -c '
    set -eo pipefail
    out=build-emulate/bundle-dist
    rm -rf "$out" && npx tsc -p . --outDir "$out" > /dev/null || true
    mkdir -p "$out/node_modules/ava" && cp scripts/gpu-bundle/ava-shim.js "$out/node_modules/ava/index.js"
    n=0
    for f in "$out"/test/gpu/*.test.js; do
      LEMMA_ADDON="$PWD/build-emulate/Release/lemma.node" node --expose-gc "$f" | tail -n 1
      n=$((n + 1))
    done
    echo "$n files passed under the stand-in"'
fi

# Sanitizer builds: the native tests only (Node itself is not instrumented). The attention
# parity test runs a subset of its emulated grid there (every precision, two head dims).
SAN_FILTER=${LEMMA_SAN_FILTER:-D=64 }
sanitizer() {  # KIND DIR
  local kind=$1 dir=$2 t targets="attention_cuda_test"
  for t in $NATIVE_TESTS; do targets="$targets $t"; done
  check "$kind-build" 1800 bash -c "cmake -S . -B $dir -G Ninja -DLEMMA_CUDA=EMULATE -DLEMMA_SANITIZE=$kind \
    > /dev/null && ninja -C $dir -j2 -k 0 $targets"
  check "attention_cuda_test-$kind" 1800 "$dir/attention_cuda_test" --emulated --filter "$SAN_FILTER"
  run_native "$dir" "-$kind"
}
if want tsan; then
  export TSAN_OPTIONS="halt_on_error=1 exitcode=66 report_signal_unsafe=0 history_size=4"
  sanitizer thread build-tsan
fi
if want asan; then
  export ASAN_OPTIONS="detect_leaks=1 abort_on_error=0 exitcode=67"
  export UBSAN_OPTIONS="print_stacktrace=1 halt_on_error=1"
  sanitizer address build-asan
fi

if want mutants; then
  check mutants 2400 node scripts/emulated/mutants.js
  grep -E "^(KILLED|SURVIVED|BROKEN)" "$LOGS/mutants.log" | sed 's/^/    /'
fi

echo "[emulated] total $(now) s"
echo "${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
