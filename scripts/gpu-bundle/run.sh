#!/usr/bin/env bash
# lemma GPU suite, run from the bundle that `npm run gpu:bundle` writes (no Node toolchain or
# compiler needed on this host). Usage: bash gpu-bundle/run.sh OUTDIR
#   1. nvidia-smi                                   -> OUTDIR/log.txt
#   2. tensor_core_selftest: one mma of each kind and one ldmatrix (+ .trans) on fixed data, every
#      register compared bit for bit with the emulated device's answer (tensor_core_selftest.golden)
#      and with the math: checks the emulator's fragment tables on real hardware -> OUTDIR/selftest.txt
#   3. attention_cuda_test (parity vs fp64 oracle)  -> OUTDIR/parity.txt, OUTDIR/parity.json
#   3b. the other families' native CUDA tests (sparse, polytope, dp, nn) -> OUTDIR/<test>.txt
#   4. attention_cuda_bench (TFLOP/s)               -> OUTDIR/bench.jsonl
#   5. PyTorch SDPA on the same shapes, when `python3 -c 'import torch'` works -> OUTDIR/torch.jsonl
#   6. the GPU tests of every family (dist/test/gpu/*.test.js)                  -> OUTDIR/js.txt
#   7. OUTDIR/summary.txt: self-test, parity counts and lemma vs torch TFLOP/s per shape (printed last)
# Every step runs under `timeout`; the whole run stays under 8 minutes. Exit code 0 iff the
# self-test, the parity test and the JS checks passed (a GPU-less host passes with everything
# skipped).
set -u
if [ $# -lt 1 ]; then
  echo "usage: bash run.sh OUTDIR" >&2
  exit 2
fi
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$1"
OUT=$(cd "$1" && pwd)
START=$(date +%s)
BUDGET=${LEMMA_GPU_SUITE_BUDGET:-450}   # seconds for steps 2-5; the summary needs a few more
LOG="$OUT/log.txt"
: > "$LOG"
log() { echo "[gpu-suite $(( $(date +%s) - START ))s] $*" | tee -a "$LOG"; }
# Seconds a step may take: its cap, or what is left of the budget.
allow() {
  local left=$(( BUDGET - ($(date +%s) - START) ))
  if [ "$left" -lt "$1" ]; then echo "$left"; else echo "$1"; fi
}
run_step() {  # name cap stdout-file command...
  local name=$1 cap=$2 out=$3
  shift 3
  local t
  t=$(allow "$cap")
  if [ "$t" -le 5 ]; then
    log "$name: skipped, out of time budget"
    return 124
  fi
  log "$name: start (timeout ${t}s)"
  timeout --kill-after=10 "$t" "$@" > "$out" 2>> "$LOG"
  local rc=$?
  [ $rc -eq 124 ] && log "$name: TIMED OUT after ${t}s"
  log "$name: exit $rc"
  return $rc
}

log "bundle: $HERE"
{ nvidia-smi 2>&1 || echo "nvidia-smi: not available"; } | tee -a "$LOG"

# The bundled node binary (xz-compressed to keep the bundle small).
NODE=""
TMPD=$(mktemp -d "${TMPDIR:-/tmp}/lemma-gpu.XXXXXX")
trap 'rm -rf "$TMPD"' EXIT
if [ -f "$HERE/node.xz" ]; then
  if command -v xz > /dev/null 2>&1 && xz -dc "$HERE/node.xz" > "$TMPD/node" 2>> "$LOG"; then
    NODE="$TMPD/node"
  elif command -v python3 > /dev/null 2>&1 &&
    python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
      "$HERE/node.xz" "$TMPD/node" 2>> "$LOG"; then
    NODE="$TMPD/node"
  fi
  if [ -n "$NODE" ]; then
    chmod +x "$NODE"
    "$NODE" --version > /dev/null 2>&1 || NODE=""
  fi
fi
[ -n "$NODE" ] && log "node $("$NODE" --version)" || log "node: could not unpack node.xz (needs xz or python3); JS steps skipped"

# The native executables, xz'd in the bundle: unpacked to $BIN (a bundle with plain bin/ files
# is used as it is).
BIN="$TMPD/bin"
mkdir -p "$BIN"
for z in "$HERE"/bin/*; do
  [ -e "$z" ] || continue
  name=$(basename "$z" .xz)
  if [ "$z" = "$HERE/bin/$name" ]; then
    cp "$z" "$BIN/$name"
  elif command -v xz > /dev/null 2>&1; then
    xz -dc "$z" > "$BIN/$name" 2>> "$LOG"
  elif command -v python3 > /dev/null 2>&1; then
    python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$z" "$BIN/$name" 2>> "$LOG"
  fi
  chmod +x "$BIN/$name" 2>/dev/null || log "could not unpack $z"
done

status=0
# First: a few seconds, and it says whether the emulator that CI trusts matches this GPU.
if [ -x "$BIN/tensor_core_selftest" ]; then
  run_step selftest 60 "$OUT/selftest.txt" "$BIN/tensor_core_selftest" --golden "$HERE/tensor_core_selftest.golden" || status=1
  grep -E "^(ok|FAIL) |skipped|passed," "$OUT/selftest.txt" | tee -a "$LOG"
else
  log "selftest: no bin/tensor_core_selftest in this bundle; skipped"
fi

run_step parity 200 "$OUT/parity.txt" "$BIN/attention_cuda_test" --json "$OUT/parity.json" || status=1
tail -n 3 "$OUT/parity.txt" | tee -a "$LOG"

# The other families' native CUDA tests (sparse attention, Dikin walk, dp queries, nn stack):
# each ends "N passed, M failed" and exits non-zero on a failure.
for t in sparse_attention_cuda_test polytope_cuda_test dp_cuda_test nn_cuda_test; do
  [ -x "$BIN/$t" ] || continue
  run_step "$t" 60 "$OUT/$t.txt" "$BIN/$t" || status=1
  tail -n 1 "$OUT/$t.txt" | tee -a "$LOG"
done

run_step bench 150 "$OUT/bench.jsonl" "$BIN/attention_cuda_bench"

if command -v python3 > /dev/null 2>&1 && python3 -c 'import torch' > /dev/null 2>&1; then
  run_step torch 150 "$OUT/torch.jsonl" python3 "$HERE/bench/torch_sdpa.py"
else
  log "torch: python3 -c 'import torch' fails here; no PyTorch anchor"
fi

# The GPU tests of every family (dist/test/gpu/*.test.js, ava API through the bundled stand-in).
if [ -n "$NODE" ] && ls "$HERE"/dist/test/gpu/*.test.js > /dev/null 2>&1; then
  : > "$OUT/js.txt"
  for f in "$HERE"/dist/test/gpu/*.test.js; do
    echo "== $(basename "$f")" >> "$OUT/js.txt"
    run_step "js:$(basename "$f")" 120 "$OUT/js.part" env LEMMA_ADDON="$HERE/lemma.node" NODE_PATH="$HERE/node_modules" "$NODE" --expose-gc "$f" || status=1
    cat "$OUT/js.part" >> "$OUT/js.txt"
    tail -n 1 "$OUT/js.part" | tee -a "$LOG"
  done
  rm -f "$OUT/js.part"
else
  log "js: no compiled GPU tests in the bundle (or no node); skipped"
fi

if [ -n "$NODE" ]; then
  "$NODE" "$HERE/summary.js" "$OUT" > "$OUT/summary.txt" 2>> "$LOG"
else
  { echo "lemma GPU suite summary (node unavailable: parity tail only)"; tail -n 1 "$OUT/parity.txt"; } > "$OUT/summary.txt"
fi
log "total $(( $(date +%s) - START )) s"
cat "$OUT/summary.txt"
exit $status
