//! CPU kernels of the BERT forward pass that candle runs slowly: a vectorisable `exp` and
//! `erf` (branch-free polynomials, about 1e-7 relative error), GELU with its bias fused,
//! layer norm with bias and residual fused, and attention over packed (unpadded) sequences
//! with one task per (sequence, head) on the rayon pool.
//!
//! Plain slices in, plain slices out: this module knows nothing of tensors or weights files.
//! Kernels are compiled twice, portable and AVX2+FMA, and picked at run time.

use rayon::prelude::*;

/// Query rows whose attention scores are computed at once: 512, a whole e5 sequence, was
/// measured faster than 64 or 128 (the GEMM packs the keys once per block).
pub const ATTENTION_QUERY_BLOCK: usize = 512;

/// Whether the CPU has AVX2 and FMA (checked once).
fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static HAS: OnceLock<bool> = OnceLock::new();
        *HAS.get_or_init(|| {
            std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Defines `pub fn $name` that runs `$body` compiled for AVX2+FMA when the CPU has them and
/// portably otherwise. The body is the same code: LLVM vectorises it for each target.
macro_rules! multiversion {
    ($(#[$m:meta])* pub fn $name:ident($($arg:ident : $ty:ty),*) $body:block) => {
        $(#[$m])*
        pub fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn generic($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2($($arg: $ty),*) {
                generic($($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            if has_avx2_fma() {
                // SAFETY: the CPU supports the features `avx2` was compiled for.
                return unsafe { avx2($($arg),*) };
            }
            generic($($arg),*)
        }
    };
}

/// `exp(x)` for `x` in [-87, 88] (clamped outside), relative error about 1e-7.
/// Cephes' single-precision polynomial; branch-free so that loops over it vectorise.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5·2²³: adding it rounds to an integer held in the low mantissa bits.
    const ROUNDER: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let t = x.mul_add(LOG2E, ROUNDER);
    let n = t - ROUNDER;
    let k = (t.to_bits() as i32).wrapping_sub(ROUNDER.to_bits() as i32);
    let r = n.mul_add(-LN2_LO, n.mul_add(-LN2_HI, x));
    let mut p = 1.987_569_1e-4f32;
    p = p.mul_add(r, 1.398_2e-3);
    p = p.mul_add(r, 8.333_452e-3);
    p = p.mul_add(r, 4.166_579_6e-2);
    p = p.mul_add(r, 1.666_666_5e-1);
    p = p.mul_add(r, 0.5);
    let e = p.mul_add(r * r, r) + 1.0;
    e * f32::from_bits(((k + 127) << 23) as u32)
}

/// `erf(x)`, absolute error below 2e-7 (Abramowitz & Stegun 7.1.26 with the fast `exp`).
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [
        0.254_829_6,
        -0.284_496_74,
        1.421_413_7,
        -1.453_152_1,
        1.061_405_4,
    ];
    let a = x.abs();
    let t = 1.0 / P.mul_add(a, 1.0);
    let mut q = A[4];
    q = q.mul_add(t, A[3]);
    q = q.mul_add(t, A[2]);
    q = q.mul_add(t, A[1]);
    q = q.mul_add(t, A[0]);
    let y = 1.0 - q * t * exp(-a * a);
    y.copysign(x)
}

/// Lanes of the reductions below: independent partial results let LLVM vectorise them
/// (it may not reorder a single float accumulator).
const LANES: usize = 8;

/// Sum of a slice, in [`LANES`] partial sums.
#[inline(always)]
fn sum(x: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a += v;
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Sum of squared deviations from `mean`, in [`LANES`] partial sums.
#[inline(always)]
fn sum_sq_dev(x: &[f32], mean: f32) -> f32 {
    let mut acc = [0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail: f32 = chunks
        .remainder()
        .iter()
        .map(|v| (v - mean) * (v - mean))
        .sum();
    for c in chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a += (v - mean) * (v - mean);
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Largest value of a slice (NEG_INFINITY when empty), in [`LANES`] partial maxima.
#[inline(always)]
fn max(x: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks
        .remainder()
        .iter()
        .fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m });
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a = if v > *a { v } else { *a };
        }
    }
    acc.iter().fold(tail, |m, &v| if v > m { v } else { m })
}

multiversion! {
    /// `x ← gelu_erf(x + bias)` over rows of `bias.len()` values.
    pub fn bias_gelu_rows(x: &mut [f32], bias: &[f32]) {
        const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
        for row in x.chunks_exact_mut(bias.len()) {
            for (v, b) in row.iter_mut().zip(bias) {
                let y = *v + b;
                *v = 0.5 * y * (1.0 + erf(y * FRAC_1_SQRT_2));
            }
        }
    }
}

multiversion! {
    /// Softmax of each row of `len` values, in place.
    pub fn softmax_rows(x: &mut [f32], len: usize) {
        for row in x.chunks_exact_mut(len) {
            let m = max(row);
            row.iter_mut().for_each(|v| *v = exp(*v - m));
            let inv = 1.0 / sum(row);
            row.iter_mut().for_each(|v| *v *= inv);
        }
    }
}

multiversion! {
    /// `x ← layer_norm(x + bias + residual)` over rows of `gamma.len()` values
    /// (`bias` and `residual` may be empty to skip them).
    pub fn residual_layer_norm_rows(
        x: &mut [f32],
        bias: &[f32],
        residual: &[f32],
        gamma: &[f32],
        beta: &[f32],
        eps: f32
    ) {
        let h = gamma.len();
        for (i, row) in x.chunks_exact_mut(h).enumerate() {
            if !bias.is_empty() {
                row.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
            }
            if !residual.is_empty() {
                let r = &residual[i * h..(i + 1) * h];
                row.iter_mut().zip(r).for_each(|(v, b)| *v += b);
            }
            let mean = sum(row) / h as f32;
            let var = sum_sq_dev(row, mean) / h as f32;
            let inv = 1.0 / (var + eps).sqrt();
            for ((v, g), b) in row.iter_mut().zip(gamma).zip(beta) {
                *v = (*v - mean) * inv * g + b;
            }
        }
    }
}

/// Rows per parallel task of the row-wise kernels.
const ROWS_PER_TASK: usize = 16;

/// [`bias_gelu_rows`] on the rayon pool.
pub fn par_bias_gelu(x: &mut [f32], bias: &[f32]) {
    x.par_chunks_mut(bias.len() * ROWS_PER_TASK)
        .for_each(|c| bias_gelu_rows(c, bias));
}

/// [`residual_layer_norm_rows`] on the rayon pool.
pub fn par_residual_layer_norm(
    x: &mut [f32],
    bias: &[f32],
    residual: &[f32],
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
) {
    let chunk = gamma.len() * ROWS_PER_TASK;
    x.par_chunks_mut(chunk).enumerate().for_each(|(i, c)| {
        let r = if residual.is_empty() {
            residual
        } else {
            &residual[i * chunk..i * chunk + c.len()]
        };
        residual_layer_norm_rows(c, bias, r, gamma, beta, eps)
    });
}

/// The shape of one attention call.
#[derive(Debug, Clone, Copy)]
pub struct AttentionShape {
    pub hidden: usize,
    pub heads: usize,
}

/// A raw pointer that tasks writing disjoint parts of one buffer may share.
#[derive(Clone, Copy)]
struct SharedMut(*mut f32);
// SAFETY: every task writes a disjoint set of elements (its own rows × head columns).
unsafe impl Send for SharedMut {}
unsafe impl Sync for SharedMut {}

impl SharedMut {
    fn ptr(self) -> *mut f32 {
        self.0
    }
}

/// Multi-head self-attention over packed sequences.
///
/// `qkv` is `[tokens, 3·hidden]` (Q already scaled by 1/√d, biases not yet added; `qkv_bias`
/// is `[3·hidden]`); `spans` are the (first row, length) of each sequence. Returns the
/// context `[tokens, hidden]`. Sequences never see each other, so there is no padding and
/// no mask.
pub fn attention(
    qkv: &[f32],
    qkv_bias: &[f32],
    spans: &[(usize, usize)],
    shape: AttentionShape,
) -> Vec<f32> {
    let h = shape.hidden;
    let dh = h / shape.heads;
    let tokens = qkv.len() / (3 * h);
    let mut ctx = vec![0f32; tokens * h];
    let out = SharedMut(ctx.as_mut_ptr());
    (0..spans.len() * shape.heads)
        .into_par_iter()
        .for_each(|task| {
            let (start, len) = spans[task / shape.heads];
            let head = task % shape.heads;
            // Pack this head's K and V (bias added) into contiguous [len, dh] blocks.
            let pack = |part: usize, dst: &mut Vec<f32>, rows: std::ops::Range<usize>| {
                dst.clear();
                let col = part * h + head * dh;
                let b = &qkv_bias[col..col + dh];
                for r in rows {
                    let src = &qkv[(start + r) * 3 * h + col..][..dh];
                    dst.extend(src.iter().zip(b).map(|(x, y)| x + y));
                }
            };
            let mut k = Vec::with_capacity(len * dh);
            let mut v = Vec::with_capacity(len * dh);
            let mut q = Vec::with_capacity(ATTENTION_QUERY_BLOCK * dh);
            pack(1, &mut k, 0..len);
            pack(2, &mut v, 0..len);
            let mut scores = vec![0f32; ATTENTION_QUERY_BLOCK.min(len) * len];
            for q0 in (0..len).step_by(ATTENTION_QUERY_BLOCK) {
                let rows = ATTENTION_QUERY_BLOCK.min(len - q0);
                pack(0, &mut q, q0..q0 + rows);
                let s = &mut scores[..rows * len];
                // SAFETY: all pointers and strides describe the buffers above; `ctx` rows
                // start+q0.. and columns head·dh.. belong to this task alone.
                unsafe {
                    // scores[rows, len] = q[rows, dh] · kᵀ[dh, len]
                    gemm::gemm(
                        rows,
                        len,
                        dh,
                        s.as_mut_ptr(),
                        1,
                        len as isize,
                        false,
                        q.as_ptr(),
                        1,
                        dh as isize,
                        k.as_ptr(),
                        dh as isize,
                        1,
                        0.0,
                        1.0,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    );
                }
                softmax_rows(s, len);
                unsafe {
                    // ctx[rows, dh] = p[rows, len] · v[len, dh]
                    let dst = out.ptr().add((start + q0) * h + head * dh);
                    gemm::gemm(
                        rows,
                        dh,
                        len,
                        dst,
                        1,
                        h as isize,
                        false,
                        s.as_ptr(),
                        1,
                        len as isize,
                        v.as_ptr(),
                        1,
                        dh as isize,
                        0.0,
                        1.0,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    );
                }
            }
        });
    ctx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_std() {
        let mut worst = 0f32;
        let mut x = -87.0f32;
        while x < 88.0 {
            let rel = ((exp(x) - x.exp()) / x.exp()).abs();
            worst = worst.max(rel);
            x += 0.01;
        }
        assert!(worst < 5e-7, "worst relative error {worst}");
    }

    #[test]
    fn erf_is_close() {
        // Reference values of erf.
        for (x, e) in [
            (0.0f32, 0.0f32),
            (0.1, 0.112_462_92),
            (0.5, 0.520_499_9),
            (1.0, 0.842_700_8),
            (2.0, 0.995_322_3),
            (-1.5, -0.966_105_1),
            (4.0, 0.999_999_98),
        ] {
            assert!((erf(x) - e).abs() < 3e-7, "erf({x}) = {} not {e}", erf(x));
        }
    }

    #[test]
    fn softmax_rows_sum_to_one() {
        let mut x = vec![1.0f32, 2.0, 3.0, -1e9, 0.0, 0.0];
        softmax_rows(&mut x, 3);
        assert!((x[..3].iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!((x[2] - 0.665_240_9).abs() < 1e-6);
        assert!(x[3].abs() < 1e-12 && (x[4] - 0.5).abs() < 1e-6);
    }
}
