#pragma once
/* SIMD kernels for CPUKernels: no stable API. */
