#!/usr/bin/env python3
"""cuBLAS baseline of the geometry-cuda bench: torch.matmul(X, X.T) in strict float32 on the same GPU.

Prints one JSON line per size. TF32 is disabled (our kernel is plain FP32 FMA); --tf32 adds TF32 rows for
information only.
  python3 tools/profile/gpu/bench-vs-torch.py --n 5000 --dims 512,4096,16384 --reps 20
"""
import argparse
import json
import sys


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--dims", default="512,4096,16384")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--tf32", action="store_true", help="also time with TF32 tensor cores (not comparable)")
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        print("SKIP: PyTorch is not installed", file=sys.stderr)
        return 77
    if not torch.cuda.is_available():
        print("SKIP: torch.cuda.is_available() is False", file=sys.stderr)
        return 77

    dev = torch.device("cuda")
    modes = [False, True] if args.tf32 else [False]
    for d in (int(x) for x in args.dims.split(",")):
        x = torch.rand(args.n, d, device=dev, dtype=torch.float32)
        for tf32 in modes:
            torch.backends.cuda.matmul.allow_tf32 = tf32
            torch.set_float32_matmul_precision("high" if tf32 else "highest")
            for _ in range(3):  # warm-up: cuBLAS heuristics and workspace
                torch.matmul(x, x.T)
            torch.cuda.synchronize()
            times = []
            for _ in range(args.reps):
                start = torch.cuda.Event(enable_timing=True)
                stop = torch.cuda.Event(enable_timing=True)
                start.record()
                torch.matmul(x, x.T)
                stop.record()
                stop.synchronize()
                times.append(start.elapsed_time(stop))
            ms = sorted(times)[len(times) // 2]
            print(json.dumps({
                "bench": "torch-matmul", "device": torch.cuda.get_device_name(dev), "torch": torch.__version__,
                "n": args.n, "d": d, "tf32": tf32, "ms": round(ms, 4),
                "tflops": round(2.0 * args.n * args.n * d / ms * 1e-9, 3),
            }), flush=True)
        del x
        torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
