#!/usr/bin/env python3
"""PyTorch's scaled_dot_product_attention on the shapes of bench/native/attention_cuda_bench.cc.

H*D = 2048, B*N = 16384, N in {512, 1k, 2k, 4k, 8k, 16k}, D in {64, 128}, causal off/on, bf16 and
fp16; FlashAttention counting (forward 4 B H N^2 D, halved when causal; backward 2.5x forward).
Median of >= 10 runs timed with CUDA events after 3 warm-ups. One JSON line per (config, op) on
stdout with the same keys as the lemma bench ("impl": "torch"; "op": "fwd" or "bwd").
Exits 0 with a message on stderr when torch or a CUDA device is missing.
Usage: python3 bench/gpu/torch_sdpa.py [--quick] [--reps 10]
"""
import json
import statistics
import sys


def main():
    quick = "--quick" in sys.argv
    reps = 10
    if "--reps" in sys.argv:
        reps = max(3, int(sys.argv[sys.argv.index("--reps") + 1]))
    try:
        import torch
        import torch.nn.functional as F
    except Exception as e:  # noqa: BLE001 - any import failure means "skip"
        print(f"torch_sdpa: skipped, torch does not import: {e}", file=sys.stderr)
        return 0
    if not torch.cuda.is_available():
        print("torch_sdpa: skipped, torch sees no CUDA device", file=sys.stderr)
        return 0
    dev = torch.cuda.get_device_name(0)
    print(f"torch_sdpa: torch {torch.__version__} (CUDA {torch.version.cuda}) on {dev}", file=sys.stderr)
    Ns = [1024, 4096] if quick else [512, 1024, 2048, 4096, 8192, 16384]
    dtypes = [("bf16", torch.bfloat16), ("fp16", torch.float16)]

    def time_ms(fn):
        for _ in range(3):
            fn()
        torch.cuda.synchronize()
        times = []
        for _ in range(reps):
            a = torch.cuda.Event(enable_timing=True)
            b = torch.cuda.Event(enable_timing=True)
            a.record()
            fn()
            b.record()
            b.synchronize()
            times.append(a.elapsed_time(b))
        return statistics.median(times)

    for name, dt in dtypes:
        for D in (64, 128):
            for causal in (False, True):
                for N in Ns:
                    B, H = 16384 // N, 2048 // D
                    gen = torch.Generator(device="cuda").manual_seed(N * 131 + D)
                    q, k, v, do = (torch.randn(B, H, N, D, device="cuda", dtype=dt, generator=gen) for _ in range(4))
                    for t in (q, k, v):
                        t.requires_grad_(True)
                    flops = 4.0 * B * H * N * N * D / (2.0 if causal else 1.0)
                    try:
                        with torch.no_grad():
                            ms_f = time_ms(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal))
                        out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
                        ms_b = time_ms(lambda: torch.autograd.grad(out, (q, k, v), do, retain_graph=True))
                    except RuntimeError as e:  # e.g. out of memory: report and go on
                        print(f"torch_sdpa: {name} D={D} N={N} causal={causal}: {e}", file=sys.stderr)
                        continue
                    for op, ms, fl in (("fwd", ms_f, flops), ("bwd", ms_b, 2.5 * flops)):
                        print(json.dumps({"impl": "torch", "op": op, "dtype": name, "causal": causal, "B": B, "H": H,
                                          "N": N, "D": D, "ms": round(ms, 4), "tflops": round(fl / (ms * 1e-3) / 1e12, 2),
                                          "device": dev}), flush=True)
                    del q, k, v, do, out
                    torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
