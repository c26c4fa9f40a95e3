//! The matrix kernels of the CPU forward pass, and which of them this CPU runs: a
//! [`KernelPath`] (AMX-BF16 tiles, AVX512_BF16 dot products, AVX-512F, AVX2+FMA or portable
//! code) chosen at run time, or forced with `SIMDEX_KERNEL`, and the numeric [`Precision`]
//! of the dense layers (f32, or bf16 weights and inputs with f32 accumulation).
//!
//! Plain slices in, plain slices out: it knows nothing of tensors, weights files or the
//! model, and it never runs an instruction the CPU (or its OS) has not granted.

pub mod aligned;
pub mod amx;
pub mod avx512_math;
pub mod avx512bf16;
pub mod bf16;
pub mod cpu;
pub mod packed;
pub mod path;
pub mod scalar;

pub use aligned::AlignedBuf;
pub use bf16::{gemm_bf16, PackedBf16};
pub use path::{KernelError, KernelPath, Precision, VectorIsa, ALL_PATHS, KERNEL_ENV};
