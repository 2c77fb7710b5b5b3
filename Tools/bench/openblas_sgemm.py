#!/usr/bin/env python3
"""OpenBLAS sgemm/sgemv through numpy: the dense float32 reference for `bnb-bench --openblas`.

Prints one JSON object: the BLAS numpy loaded (threadpoolctl's report: library, version, the kernel
"architecture" OpenBLAS picked, threading layer) and, for every thread count and M, the median seconds of
`x @ w.T` with x [M, K] and w [N, K] float32 (the same product as bnb-bench's dense kernel).

Run it with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset so OpenBLAS picks its kernel itself:
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 Tools/bench/openblas_sgemm.py --shape 4096x4096 --m 1,128,512
"""
import argparse
import json
import sys
import time

import numpy as np

try:
    from threadpoolctl import threadpool_info, threadpool_limits
except ImportError:
    # Without it OpenBLAS runs every "1 thread" figure on all cores (a 2-core machine measured 2x too fast):
    # refuse rather than print ratios against the wrong baseline.
    sys.exit("openblas_sgemm.py needs threadpoolctl to time OpenBLAS per thread count: pip install threadpoolctl")


def median_seconds(fn, repeats):
    for _ in range(2):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    samples.sort()
    return samples[len(samples) // 2]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="4096x4096", help="N x K")
    parser.add_argument("--m", default="1,128,512", help="comma-separated activation rows")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    n, k = (int(v) for v in args.shape.split("x"))
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((n, k), dtype=np.float32) * 0.05).astype(np.float32)
    info = [dict(entry) for entry in threadpool_info()]
    report = {"numpy": np.__version__, "blas": info, "n": n, "k": k, "results": []}
    for threads in (int(t) for t in args.threads.split(",")):
        for m in (int(v) for v in args.m.split(",")):
            x = rng.uniform(-1, 1, (m, k)).astype(np.float32)
            out = np.empty((m, n), dtype=np.float32)

            def product():
                np.matmul(x, w.T, out=out)

            with threadpool_limits(limits=threads, user_api="blas"):
                seconds = median_seconds(product, args.repeats)
            report["results"].append(
                {"m": m, "threads": threads, "seconds": seconds, "gflops": 2.0 * m * n * k / seconds / 1e9}
            )
    json.dump(report, sys.stdout)
    print()


if __name__ == "__main__":
    main()
