//! CPU kernels of the BERT forward pass that candle runs slowly: a vectorisable `exp` and
//! `erf` (branch-free polynomials, about 1e-7 relative error), GELU with its bias fused,
//! layer norm with bias and residual fused, and attention over packed (unpadded) sequences
//! with one task per (sequence, head) on the rayon pool, its Q·Kᵀ and P·V on register-tiled
//! micro-kernels (a head is 32 wide in e5-small: too small for a packing GEMM to pay off);
//! on AMX in bf16 the tasks hand their sequence to the tile attention of `kernels::amx`
//! ([`tile_attention_bf16`]) instead.
//!
//! Plain slices in, plain slices out: this module knows nothing of tensors or weights files.
//! Kernels are compiled three times, portable, AVX2+FMA and AVX-512, and the caller picks
//! one with the [`VectorIsa`] of its [`super::kernels::KernelPath`].

use rayon::prelude::*;

use super::kernels::bf16::to_bf16;
pub use super::kernels::scalar::{erf, exp};
use super::kernels::{amx, VectorIsa};
use crate::multiversion;

/// Query rows whose attention scores are computed at once: their scores (rows × keys) stay
/// in L2 between Q·Kᵀ, softmax and P·V (96 × 512 × 4 B = 192 KiB).
pub const ATTENTION_QUERY_BLOCK: usize = 96;
/// Query rows of one micro-kernel tile (register blocking; the block is a multiple of it).
const TILE_ROWS: usize = 6;
/// Columns (keys in Q·Kᵀ, head dimensions in P·V) of one micro-kernel tile: two AVX vectors.
/// Heads and key counts are zero-padded to a multiple of it.
const TILE_COLS: usize = 16;

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

/// Softmax of one row, in place (inlined into the caller's instruction set).
#[inline(always)]
pub fn softmax_in_place(row: &mut [f32]) {
    softmax(row)
}

/// Softmax of one row, in place.
#[inline(always)]
fn softmax(row: &mut [f32]) {
    let m = max(row);
    row.iter_mut().for_each(|v| *v = exp(*v - m));
    let inv = 1.0 / sum(row);
    row.iter_mut().for_each(|v| *v *= inv);
}

multiversion! {
    /// Softmax of each row of `len` values, in place.
    pub fn softmax_rows(x: &mut [f32], len: usize) {
        x.chunks_exact_mut(len).for_each(softmax);
    }
}

/// One [`TILE_ROWS`] × [`TILE_COLS`] tile of a product:
/// `out[r][c] = Σ_{i<n} a[r·a_stride + i] · b[i·b_stride + c]`.
/// Q·Kᵀ passes query rows and a tile of Kᵀ; P·V passes probability rows and V's columns.
#[inline(always)]
fn tile_product(
    a: &[f32],
    a_stride: usize,
    b: &[f32],
    b_stride: usize,
    n: usize,
) -> [[f32; TILE_COLS]; TILE_ROWS] {
    assert!(n > 0 && n <= a_stride);
    assert!(a.len() >= (TILE_ROWS - 1) * a_stride + n);
    assert!(b.len() >= (n - 1) * b_stride + TILE_COLS);
    let mut acc = [[0f32; TILE_COLS]; TILE_ROWS];
    for i in 0..n {
        // SAFETY: i < n ≤ a_stride and the asserted lengths cover every index read below.
        unsafe {
            let br = &*(b.as_ptr().add(i * b_stride) as *const [f32; TILE_COLS]);
            for (r, acc) in acc.iter_mut().enumerate() {
                let x = *a.get_unchecked(r * a_stride + i);
                for (acc, y) in acc.iter_mut().zip(br) {
                    *acc = x.mul_add(*y, *acc);
                }
            }
        }
    }
    acc
}

/// The sizes of one head's attention: keys, and the padded head width and key count.
#[derive(Debug, Clone, Copy)]
pub struct HeadDims {
    /// Keys (the sequence length).
    pub len: usize,
    /// Head width padded to a multiple of [`TILE_COLS`].
    pub dp: usize,
    /// Keys padded to a multiple of [`TILE_COLS`].
    pub lp: usize,
}

multiversion! {
    /// Attention of one block of query rows against all keys of one head.
    ///
    /// `q` is `[rows, dp]` (rows a multiple of [`TILE_ROWS`]), `kt` is Kᵀ in tiles of
    /// [`TILE_COLS`] keys, `[lp / TILE_COLS, dp, TILE_COLS]`, `v` is
    /// `[len, dp]`, with `dp` and `lp ≥ len` multiples of [`TILE_COLS`] and the padding zero.
    /// `scores` is scratch of `rows · lp`; `ctx` receives `[rows, dp]`.
    pub fn attention_block(
        q: &[f32],
        kt: &[f32],
        v: &[f32],
        scores: &mut [f32],
        ctx: &mut [f32],
        dims: HeadDims
    ) {
        let HeadDims { len, dp, lp } = dims;
        let rows = q.len() / dp;
        for r0 in (0..rows).step_by(TILE_ROWS) {
            let qt = &q[r0 * dp..(r0 + TILE_ROWS) * dp];
            for c0 in (0..lp).step_by(TILE_COLS) {
                let t = tile_product(qt, dp, &kt[c0 * dp..], TILE_COLS, dp);
                for (r, t) in t.iter().enumerate() {
                    scores[(r0 + r) * lp + c0..][..TILE_COLS].copy_from_slice(t);
                }
            }
        }
        for row in scores[..rows * lp].chunks_exact_mut(lp) {
            softmax(&mut row[..len]);
        }
        for r0 in (0..rows).step_by(TILE_ROWS) {
            let p = &scores[r0 * lp..(r0 + TILE_ROWS) * lp];
            for c0 in (0..dp).step_by(TILE_COLS) {
                let t = tile_product(p, lp, &v[c0..], dp, len);
                for (r, t) in t.iter().enumerate() {
                    ctx[(r0 + r) * dp + c0..][..TILE_COLS].copy_from_slice(t);
                }
            }
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

multiversion! {
    /// `dst ← bf16(x + bias)` over rows of `bias.len()` values, each written as a row of
    /// `stride` bf16 values (tail zeroed): the epilogue of the Q/K/V product on AMX.
    pub fn bias_bf16_rows(x: &[f32], bias: &[f32], dst: &mut [u16], stride: usize) {
        let n = bias.len();
        for (row, d) in x.chunks_exact(n).zip(dst.chunks_exact_mut(stride)) {
            for ((o, v), b) in d.iter_mut().zip(row).zip(bias) {
                *o = to_bf16(*v + b);
            }
            d[n..].fill(0);
        }
    }
}

/// `dst ← bf16(gelu_erf(x + bias))` over rows of `bias.len()` values, each written as a
/// row of `stride` bf16 values (tail zeroed): the fused epilogue that hands the GELU
/// output straight to the next bf16 product, with no f32 write-back or rounding pass.
/// On AVX-512 it runs [`super::kernels::avx512_math`] (no division), elsewhere
/// [`bias_gelu_bf16_rows_plain`].
pub fn bias_gelu_bf16_rows(
    isa: VectorIsa,
    x: &[f32],
    bias: &[f32],
    dst: &mut [u16],
    stride: usize,
) {
    #[cfg(target_arch = "x86_64")]
    if isa == VectorIsa::Avx512 {
        // SAFETY: callers pass the ISA of a path the CPU supports (checked at load).
        return unsafe { super::kernels::avx512_math::bias_gelu_bf16_rows(x, bias, dst, stride) };
    }
    bias_gelu_bf16_rows_plain(isa, x, bias, dst, stride)
}

multiversion! {
    /// [`bias_gelu_bf16_rows`] in plain code (compiled per ISA by `multiversion!`).
    pub fn bias_gelu_bf16_rows_plain(x: &[f32], bias: &[f32], dst: &mut [u16], stride: usize) {
        const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
        let n = bias.len();
        for (row, d) in x.chunks_exact(n).zip(dst.chunks_exact_mut(stride)) {
            for ((o, v), b) in d.iter_mut().zip(row).zip(bias) {
                let y = *v + b;
                *o = to_bf16(0.5 * y * (1.0 + erf(y * FRAC_1_SQRT_2)));
            }
            d[n..].fill(0);
        }
    }
}

multiversion! {
    /// [`residual_layer_norm_rows`], then each normalised row also rounded into a row of
    /// `stride` bf16 values of `dst` (tail zeroed), the input of the next bf16 product.
    #[allow(clippy::too_many_arguments)]
    pub fn residual_layer_norm_bf16_rows(
        x: &mut [f32],
        bias: &[f32],
        residual: &[f32],
        gamma: &[f32],
        beta: &[f32],
        eps: f32,
        dst: &mut [u16],
        stride: usize
    ) {
        let h = gamma.len();
        for (i, (row, d)) in x.chunks_exact_mut(h).zip(dst.chunks_exact_mut(stride)).enumerate() {
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
            for (((v, g), b), o) in row.iter_mut().zip(gamma).zip(beta).zip(d.iter_mut()) {
                *v = (*v - mean) * inv * g + b;
                *o = to_bf16(*v);
            }
            d[h..].fill(0);
        }
    }
}

/// Rows per parallel task of the row-wise kernels.
const ROWS_PER_TASK: usize = 16;

/// [`bias_gelu_rows`] on the rayon pool.
pub fn par_bias_gelu(isa: VectorIsa, x: &mut [f32], bias: &[f32]) {
    x.par_chunks_mut(bias.len() * ROWS_PER_TASK)
        .for_each(|c| bias_gelu_rows(isa, c, bias));
}

/// [`residual_layer_norm_rows`] on the rayon pool.
pub fn par_residual_layer_norm(
    isa: VectorIsa,
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
        residual_layer_norm_rows(isa, c, bias, r, gamma, beta, eps)
    });
}

/// [`bias_gelu_bf16_rows`] on the rayon pool; `dst` holds at least as many rows of
/// `stride` as `x` has rows of `bias.len()`.
pub fn par_bias_gelu_bf16(isa: VectorIsa, x: &[f32], bias: &[f32], dst: &mut [u16], stride: usize) {
    let rows = x.len() / bias.len();
    assert!(stride >= bias.len() && dst.len() >= rows * stride);
    x.par_chunks(bias.len() * ROWS_PER_TASK)
        .zip(dst[..rows * stride].par_chunks_mut(stride * ROWS_PER_TASK))
        .for_each(|(c, d)| bias_gelu_bf16_rows(isa, c, bias, d, stride));
}

/// [`residual_layer_norm_bf16_rows`] on the rayon pool (`residual` as long as `x`, or empty).
#[allow(clippy::too_many_arguments)]
pub fn par_residual_layer_norm_bf16(
    isa: VectorIsa,
    x: &mut [f32],
    bias: &[f32],
    residual: &[f32],
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
    dst: &mut [u16],
    stride: usize,
) {
    let h = gamma.len();
    let rows = x.len() / h;
    assert!(stride >= h && dst.len() >= rows * stride);
    assert!(residual.is_empty() || residual.len() == x.len());
    let chunk = h * ROWS_PER_TASK;
    x.par_chunks_mut(chunk)
        .zip(dst[..rows * stride].par_chunks_mut(stride * ROWS_PER_TASK))
        .enumerate()
        .for_each(|(i, (c, d))| {
            let r = if residual.is_empty() {
                residual
            } else {
                &residual[i * chunk..i * chunk + c.len()]
            };
            residual_layer_norm_bf16_rows(isa, c, bias, r, gamma, beta, eps, d, stride)
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
struct SharedMut<T>(*mut T);
// SAFETY: every task writes a disjoint set of elements (its own rows × head columns).
unsafe impl<T> Send for SharedMut<T> {}
unsafe impl<T> Sync for SharedMut<T> {}

impl<T> SharedMut<T> {
    fn ptr(self) -> *mut T {
        self.0
    }
}

/// Multi-head self-attention over packed sequences, in f32.
///
/// `qkv` is `[tokens, 3·hidden]` (Q already scaled by 1/√d, biases not yet added; `qkv_bias`
/// is `[3·hidden]`); `spans` are the (first row, length) of each sequence. Returns the
/// context `[tokens, hidden]`. Sequences never see each other, so there is no padding and
/// no mask. (The bf16 precision on AMX runs [`tile_attention_bf16`] instead.)
pub fn attention(
    isa: VectorIsa,
    qkv: &[f32],
    qkv_bias: &[f32],
    spans: &[(usize, usize)],
    shape: AttentionShape,
) -> Vec<f32> {
    let tokens = qkv.len() / (3 * shape.hidden);
    let mut ctx = vec![0f32; tokens * shape.hidden];
    attention_into(isa, qkv, qkv_bias, spans, shape, &mut ctx);
    ctx
}

/// Multi-head self-attention over packed sequences on AMX tiles ([`amx::attention_heads`]):
/// `qkv` is the bf16 `[tokens, 3·hidden]` output of the Q/K/V product's epilogue (biases
/// added, Q scaled), and the context of each row is written in bf16 into row `r` of `dst`
/// (`stride` values a row, the tail past `hidden` zeroed): the input of the attention
/// output product, with no f32 context in between. Heads must be at most
/// [`amx::ATTENTION_HEAD`] wide; the spans must cover every row of `dst` that is read.
pub fn tile_attention_bf16(
    qkv: &[u16],
    spans: &[(usize, usize)],
    shape: AttentionShape,
    dst: &mut [u16],
    stride: usize,
) {
    let h = shape.hidden;
    let dh = h / shape.heads;
    assert!(dh <= amx::ATTENTION_HEAD && stride >= h);
    let tokens = qkv.len() / (3 * h);
    assert!(
        dst.len() >= tokens * stride,
        "context shorter than [tokens, stride]"
    );
    assert!(spans.iter().all(|&(s, l)| s + l <= tokens));
    if stride > h {
        dst[..tokens * stride]
            .par_chunks_mut(stride)
            .for_each(|r| r[h..].fill(0));
    }
    let out = SharedMut(dst.as_mut_ptr());
    // A task reads its sequence's rows once for a group of heads: the whole row when
    // there are sequences enough to keep every thread busy, else fewer heads a task.
    let threads = rayon::current_num_threads();
    let groups = (1..=shape.heads)
        .filter(|g| shape.heads.is_multiple_of(*g))
        .find(|g| spans.len() * g >= 2 * threads)
        .unwrap_or(shape.heads);
    let per = shape.heads / groups;
    (0..spans.len() * groups).into_par_iter().for_each(|task| {
        let (start, len) = spans[task / groups];
        let col = (task % groups) * per * dh;
        let x = amx::HeadsQkv {
            qkv: &qkv[start * 3 * h..(start + len) * 3 * h],
            stride: 3 * h,
            len,
            dh,
            heads: per,
            cols: [col, h + col, 2 * h + col],
        };
        amx::attention_heads(&x, &mut |head, r, c| {
            // SAFETY: this task alone writes these columns of these rows (its sequence's
            // rows, its group's heads), which lie inside `dst` (asserted above).
            let d = unsafe {
                std::slice::from_raw_parts_mut(
                    out.ptr().add((start + r) * stride + col + head * dh),
                    dh,
                )
            };
            amx::copy_head_row(d, c);
        });
    });
}

/// [`attention`] into a caller's buffer `ctx` of `[tokens, hidden]` (every element is
/// written: the spans cover every row).
pub fn attention_into(
    isa: VectorIsa,
    qkv: &[f32],
    qkv_bias: &[f32],
    spans: &[(usize, usize)],
    shape: AttentionShape,
    ctx: &mut [f32],
) {
    let h = shape.hidden;
    let dh = h / shape.heads;
    let dp = dh.next_multiple_of(TILE_COLS);
    let tokens = qkv.len() / (3 * h);
    assert_eq!(ctx.len(), tokens * h, "context is not [tokens, hidden]");
    let covered: usize = spans.iter().map(|s| s.1).sum();
    assert!(spans.iter().all(|&(s, l)| s + l <= tokens) && covered <= tokens);
    let out = SharedMut(ctx.as_mut_ptr());
    (0..spans.len() * shape.heads)
        .into_par_iter()
        .for_each(|task| {
            let (start, len) = spans[task / shape.heads];
            let head = task % shape.heads;
            let lp = len.next_multiple_of(TILE_COLS);
            // This head's columns of Q, K or V (bias added) for sequence row `r`.
            let row = |part: usize, r: usize| {
                let col = part * h + head * dh;
                let src = &qkv[(start + r) * 3 * h + col..][..dh];
                src.iter().zip(&qkv_bias[col..col + dh]).map(|(x, b)| x + b)
            };
            // Kᵀ in tiles (contiguous, so that a tile's rows do not share cache sets) and
            // V [len, dp], zero-padded.
            let mut kt = vec![0f32; dp * lp];
            let mut v = vec![0f32; len * dp];
            for r in 0..len {
                for (d, x) in row(1, r).enumerate() {
                    kt[(r / TILE_COLS) * dp * TILE_COLS + d * TILE_COLS + r % TILE_COLS] = x;
                }
                v[r * dp..][..dh]
                    .iter_mut()
                    .zip(row(2, r))
                    .for_each(|(d, x)| *d = x);
            }
            let block = ATTENTION_QUERY_BLOCK.min(len.next_multiple_of(TILE_ROWS));
            let mut q = vec![0f32; block * dp];
            let mut scores = vec![0f32; block * lp];
            let mut c = vec![0f32; block * dp];
            for q0 in (0..len).step_by(block) {
                let real = block.min(len - q0);
                let padded = real.next_multiple_of(TILE_ROWS);
                q.fill(0.0);
                for r in 0..real {
                    q[r * dp..][..dh]
                        .iter_mut()
                        .zip(row(0, q0 + r))
                        .for_each(|(d, x)| *d = x);
                }
                attention_block(
                    isa,
                    &q[..padded * dp],
                    &kt,
                    &v,
                    &mut scores[..padded * lp],
                    &mut c[..padded * dp],
                    HeadDims { len, dp, lp },
                );
                for r in 0..real {
                    // SAFETY: row start+q0+r, columns head·dh..(head+1)·dh of `ctx` belong
                    // to this task alone, and lie inside it.
                    let dst = unsafe {
                        std::slice::from_raw_parts_mut(
                            out.ptr().add((start + q0 + r) * h + head * dh),
                            dh,
                        )
                    };
                    dst.copy_from_slice(&c[r * dp..][..dh]);
                }
            }
        });
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
        softmax_rows(VectorIsa::Baseline, &mut x, 3);
        assert!((x[..3].iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!((x[2] - 0.665_240_9).abs() < 1e-6);
        assert!(x[3].abs() < 1e-12 && (x[4] - 0.5).abs() < 1e-6);
    }

    /// The AMX tile attention (bf16 inputs and probabilities, f32 sums) against the f32
    /// kernels, where the machine has AMX: packed sequences of odd lengths (one longer than
    /// a query block), a full-width head and one narrower than a tile row.
    #[test]
    fn tile_attention_is_close_to_f32_attention() {
        if !crate::model::kernels::KernelPath::Amx.supported() {
            println!("no AMX on this machine: nothing to compare");
            return;
        }
        // Many sequences (a task takes all heads of one) and one (a task a head).
        let many = [(0, 1), (1, 17), (18, 70), (88, 33)];
        let one = [(0, 121)];
        for (hidden, heads, spans) in [(96, 3, &many[..]), (48, 2, &many), (96, 3, &one)] {
            let shape = AttentionShape { hidden, heads };
            let tokens = 121;
            let val = |i: usize| ((i * 7919) % 1000) as f32 / 500.0 - 1.0;
            let qkv: Vec<f32> = (0..tokens * 3 * hidden).map(val).collect();
            let bias: Vec<f32> = (0..3 * hidden).map(|i| val(i + 5) * 0.1).collect();
            let want = attention(VectorIsa::Avx512, &qkv, &bias, spans, shape);
            let n3 = 3 * hidden;
            let mut qb = vec![0u16; tokens * n3];
            bias_bf16_rows(VectorIsa::Avx512, &qkv, &bias, &mut qb, n3);
            let stride = hidden + 32; // a tail past `hidden` that must come back zero
            let mut ctx = vec![7u16; tokens * stride];
            tile_attention_bf16(&qb, spans, shape, &mut ctx, stride);
            let got: Vec<f32> = ctx
                .chunks_exact(stride)
                .flat_map(|r| {
                    assert!(r[hidden..].iter().all(|&v| v == 0));
                    r[..hidden]
                        .iter()
                        .map(|&v| crate::model::kernels::bf16::from_bf16(v))
                })
                .collect();
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (g - w).abs() < 2e-2,
                    "{hidden}/{heads} element {i}: {g} vs {w}"
                );
            }
        }
    }

    #[test]
    fn attention_matches_naive() {
        // Two packed sequences whose lengths are not multiples of the tiles, a head width
        // (24) that needs padding, and a sequence longer than one query block.
        let shape = AttentionShape {
            hidden: 48,
            heads: 2,
        };
        let (h, dh) = (48, 24);
        let spans = [(0, 7), (7, ATTENTION_QUERY_BLOCK + 5)];
        let tokens = 7 + ATTENTION_QUERY_BLOCK + 5;
        let val = |i: usize| ((i * 7919) % 1000) as f32 / 500.0 - 1.0;
        let qkv: Vec<f32> = (0..tokens * 3 * h).map(val).collect();
        let bias: Vec<f32> = (0..3 * h).map(|i| val(i + 17) * 0.1).collect();
        for isa in crate::model::kernels::KernelPath::available()
            .into_iter()
            .map(|p| p.vector_isa())
        {
            let got = attention(isa, &qkv, &bias, &spans, shape);
            let at = |t: usize, part: usize, head: usize, d: usize| {
                let c = part * h + head * dh + d;
                qkv[t * 3 * h + c] + bias[c]
            };
            for &(start, len) in &spans {
                for head in 0..2 {
                    for i in 0..len {
                        let s: Vec<f32> = (0..len)
                            .map(|j| {
                                (0..dh)
                                    .map(|d| at(start + i, 0, head, d) * at(start + j, 1, head, d))
                                    .sum()
                            })
                            .collect();
                        let m = s.iter().cloned().fold(f32::MIN, f32::max);
                        let e: Vec<f32> = s.iter().map(|x| (x - m).exp()).collect();
                        let z: f32 = e.iter().sum();
                        for d in 0..dh {
                            let want: f32 =
                                (0..len).map(|j| e[j] / z * at(start + j, 2, head, d)).sum();
                            let g = got[(start + i) * h + head * dh + d];
                            assert!(
                                (g - want).abs() < 1e-4,
                                "{isa:?} row {i} head {head} dim {d}: {g} vs {want}"
                            );
                        }
                    }
                }
            }
        }
    }

    // The AVX-512 kernels of `kernels::avx512_math` against this module's plain code (here,
    // so that the kernels import nothing from the model).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn exponentials_and_sum_match_the_plain_softmax() {
        use crate::model::kernels::bf16::from_bf16;
        if !crate::model::kernels::cpu::avx512() || !crate::model::kernels::cpu::avx512_bf16() {
            return;
        }
        for n in [1usize, 7, 16, 33, 128, 515] {
            let row: Vec<f32> = (0..n).map(|i| ((i * 37) % 23) as f32 * 0.7 - 8.0).collect();
            let mut fast = vec![0u16; n + 3];
            // SAFETY: AVX-512 checked above.
            let sum = unsafe { crate::model::kernels::avx512_math::exp_to_bf16(&row, &mut fast) };
            let mut plain = row.clone();
            super::softmax_in_place(&mut plain);
            for (i, (f, p)) in fast.iter().zip(&plain).enumerate() {
                // Normalised, each weight is the plain softmax to within a bf16 step.
                let w = from_bf16(*f) / sum;
                assert!(
                    (w - p).abs() <= 4e-3 * p + 1e-9,
                    "n {n} element {i}: {w} vs {p}"
                );
            }
            assert_eq!(&fast[n..], &[0, 0, 0], "wrote past the row");
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn matches_the_plain_gelu_to_a_bf16_step() {
        if !crate::model::kernels::cpu::avx512() {
            return;
        }
        let n = 40; // two vectors and a scalar tail
        let x: Vec<f32> = (0..3 * n).map(|i| (i as f32 - 60.0) * 0.11).collect();
        let bias: Vec<f32> = (0..n).map(|i| (i as f32) * 0.01 - 0.2).collect();
        let stride = 64;
        let mut plain = vec![7u16; 3 * stride];
        super::bias_gelu_bf16_rows_plain(
            crate::model::kernels::VectorIsa::Baseline,
            &x,
            &bias,
            &mut plain,
            stride,
        );
        // Both roundings, where the CPU has them.
        let native = crate::model::kernels::cpu::avx512_bf16();
        for use_native in [false, true].into_iter().filter(|&b| !b || native) {
            let mut fast = vec![7u16; 3 * stride];
            // SAFETY: AVX-512 (and for the native rounding AVX512_BF16) checked above.
            unsafe {
                if use_native {
                    crate::model::kernels::avx512_math::gelu_native(&x, &bias, &mut fast, stride)
                } else {
                    crate::model::kernels::avx512_math::gelu_integer(&x, &bias, &mut fast, stride)
                }
            };
            for (i, (f, p)) in fast.iter().zip(&plain).enumerate() {
                // The same value, or its bf16 neighbour (the reciprocal differs in the last bit).
                assert!(
                    (*f as i32 - *p as i32).abs() <= 1,
                    "native {use_native} element {i}: {f:#x} vs {p:#x}"
                );
            }
            assert!(fast[n..stride].iter().all(|&v| v == 0));
        }
    }
}
