#!/usr/bin/env python3
"""PyTorch's scaled_dot_product_attention on the shapes of bench/native/attention_cuda_bench.cc.

H*D = 2048, B*N = 16384, N in {512, 1k, 2k, 4k, 8k, 16k}, D in {64, 128}, causal off/on, bf16 and
fp16; FlashAttention counting (forward 4 B H N^2 D, halved when causal; backward 2.5x forward).
Median of >= 10 runs timed with CUDA events after 3 warm-ups. One JSON line per (config, op) on
stdout with the same keys as the lemma bench ("impl": "torch"; "op": "fwd" or "bwd").
Then the decode shapes of the lemma bench (split-KV): B = 1, (Hq, Hkv) in {(1, 1), (8, 1)}, Nq in
{1, 16}, Nk in {16k, 64k, 256k}, D = 128, non-causal, fp16 / bf16 / fp32, forward only, with the
achieved bandwidth (bytes of K and V / time): {"impl": "torch", "op": "decode", "gqa": ..., "Hq",
"Hkv", "Nq", "Nk", "ms", "gbps", ...}. GQA runs with enable_gqa=True where torch has it (>= 2.5);
otherwise K and V are expanded to Hq heads before timing ("gqa": "expanded"; SDPA then reads
Hq / Hkv times the bytes, which the gbps column does not count).
Exits 0 with a message on stderr when torch or a CUDA device is missing.
Usage: python3 bench/gpu/torch_sdpa.py [--quick] [--reps 10] [--decode-only | --no-decode]
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
    table = "--decode-only" not in sys.argv
    decode = "--no-decode" not in sys.argv
    Ns = ([1024, 4096] if quick else [512, 1024, 2048, 4096, 8192, 16384]) if table else []
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

    if decode:
        decode_dtypes = [("fp16", torch.float16), ("bf16", torch.bfloat16), ("fp32", torch.float32)]
        for name, dt in decode_dtypes:
            for Hq in (1, 8):
                for Nq in (1, 16):
                    for Nk in (16384, 65536, 262144):
                        B, Hkv, D = 1, 1, 128
                        gen = torch.Generator(device="cuda").manual_seed(Nk * 7 + Nq * 3 + Hq)
                        q = torch.randn(B, Hq, Nq, D, device="cuda", dtype=dt, generator=gen)
                        k, v = (torch.randn(B, Hkv, Nk, D, device="cuda", dtype=dt, generator=gen) for _ in range(2))
                        gqa = "none" if Hq == Hkv else "enable_gqa"
                        try:
                            with torch.no_grad():
                                if Hq == Hkv:
                                    ms = time_ms(lambda: F.scaled_dot_product_attention(q, k, v))
                                else:
                                    try:
                                        ms = time_ms(lambda: F.scaled_dot_product_attention(q, k, v, enable_gqa=True))
                                    except TypeError:  # torch < 2.5: no enable_gqa
                                        gqa = "expanded"
                                        ke = k.repeat_interleave(Hq // Hkv, dim=1)
                                        ve = v.repeat_interleave(Hq // Hkv, dim=1)
                                        ms = time_ms(lambda: F.scaled_dot_product_attention(q, ke, ve))
                                        del ke, ve
                        except RuntimeError as e:  # e.g. out of memory: report and go on
                            print(f"torch_sdpa: decode {name} Hq={Hq} Nq={Nq} Nk={Nk}: {e}", file=sys.stderr)
                            continue
                        nbytes = 2.0 * B * Hkv * Nk * D * k.element_size()
                        print(json.dumps({"impl": "torch", "op": "decode", "gqa": gqa, "dtype": name, "causal": False,
                                          "B": B, "Hq": Hq, "Hkv": Hkv, "Nq": Nq, "Nk": Nk, "D": D, "ms": round(ms, 4),
                                          "gbps": round(nbytes / (ms * 1e-3) / 1e9, 1), "device": dev}), flush=True)
                        del q, k, v
                        torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
