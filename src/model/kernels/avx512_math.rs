//! Element-wise math of the bf16 forward pass in AVX-512 intrinsics, where the plain
//! compile was the bottleneck:
//! - the bias + GELU (erf) epilogue of the intermediate dense layer, rounding straight to
//!   the bf16 input of the output layer. It computes what `cpu_ops::bias_gelu_bf16_rows_plain`
//!   computes (the same Abramowitz & Stegun `erf`, the same Cephes `exp`, the same
//!   round-to-nearest-even), except that `1 / (1 + p·|x|)` is the 14-bit reciprocal
//!   estimate refined by one Newton step (relative error about 1e-8) instead of a division:
//!   `vdivps` was the slowest instruction of the plain compile;
//! - the softmax of the AMX attention, whose weights are rounded to bf16: its `exp` is
//!   `2^n · p(f)` with `vscalefps` and a degree-4 polynomial (relative error 2.7e-6, a
//!   thousandth of a bf16 step); one pass for the max, one for the exponentials (written
//!   in bf16, unnormalised) and their sum.
//!
//! Only `cpu_ops` (GELU) and the AMX attention (softmax) call it, on CPUs with
//! AVX-512F/BW/VL/DQ; it knows nothing of layers or layouts beyond rows.

/// `dst ← bf16(gelu_erf(x + bias))` over rows of `bias.len()` values, each written as a
/// row of `stride` bf16 values, tail zeroed. With AVX512_BF16 the rounding is one
/// `vcvtneps2bf16` (which flushes results below 2^-126 to zero), else integer code.
///
/// # Safety
/// The CPU must have AVX-512F, BW, VL and DQ.
#[cfg(target_arch = "x86_64")]
pub unsafe fn bias_gelu_bf16_rows(x: &[f32], bias: &[f32], dst: &mut [u16], stride: usize) {
    if crate::model::kernels::cpu::avx512_bf16() {
        gelu_native(x, bias, dst, stride)
    } else {
        gelu_integer(x, bias, dst, stride)
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,avx512bf16")]
pub(crate) unsafe fn gelu_native(x: &[f32], bias: &[f32], dst: &mut [u16], stride: usize) {
    gelu_body::<true>(x, bias, dst, stride)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")]
pub(crate) unsafe fn gelu_integer(x: &[f32], bias: &[f32], dst: &mut [u16], stride: usize) {
    gelu_body::<false>(x, bias, dst, stride)
}

/// The body of [`bias_gelu_bf16_rows`], inlined into a caller compiled with the features
/// `NATIVE` rounding needs.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn gelu_body<const NATIVE: bool>(x: &[f32], bias: &[f32], dst: &mut [u16], stride: usize) {
    use std::arch::x86_64::*;
    const L: usize = 16;
    let n = bias.len();
    let body = n - n % L;
    let splat = _mm512_set1_ps;
    for (row, d) in x.chunks_exact(n).zip(dst.chunks_exact_mut(stride)) {
        for j in (0..body).step_by(L) {
            // SAFETY: j + 16 <= body <= n = row.len() = bias.len() <= stride = d.len().
            let v = _mm512_loadu_ps(row.as_ptr().add(j));
            let b = _mm512_loadu_ps(bias.as_ptr().add(j));
            let y = _mm512_add_ps(v, b);
            let z = _mm512_mul_ps(y, splat(std::f32::consts::FRAC_1_SQRT_2));
            let a = _mm512_abs_ps(z);
            // t = 1 / (1 + p·a): estimate, one Newton step.
            let den = _mm512_fmadd_ps(splat(0.327_591_1), a, splat(1.0));
            let r = _mm512_rcp14_ps(den);
            let t = _mm512_mul_ps(r, _mm512_fnmadd_ps(den, r, splat(2.0)));
            let mut q = splat(1.061_405_4);
            q = _mm512_fmadd_ps(q, t, splat(-1.453_152_1));
            q = _mm512_fmadd_ps(q, t, splat(1.421_413_7));
            q = _mm512_fmadd_ps(q, t, splat(-0.284_496_74));
            q = _mm512_fmadd_ps(q, t, splat(0.254_829_6));
            let e = exp(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_mul_ps(a, a)));
            let erf_abs = _mm512_fnmadd_ps(_mm512_mul_ps(q, t), e, splat(1.0));
            // copysign(erf_abs, z)
            let sign = _mm512_and_si512(_mm512_castps_si512(z), _mm512_set1_epi32(i32::MIN));
            let erf = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(erf_abs), sign));
            let g = _mm512_mul_ps(_mm512_mul_ps(splat(0.5), y), _mm512_add_ps(splat(1.0), erf));
            _mm256_storeu_si256(d.as_mut_ptr().add(j) as *mut __m256i, round::<NATIVE>(g));
        }
        for j in body..n {
            d[j] = crate::model::kernels::packed::to_bf16(gelu_scalar(row[j] + bias[j]));
        }
        d[n..].fill(0);
    }
}

/// The unnormalised softmax of one row into bf16: `out[j] = bf16(exp(row[j] - max))`;
/// returns `Σ_j exp(row[j] - max)` (of the unrounded values), by which the caller divides
/// whatever it sums with these weights. `out` is at least as long as `row`.
///
/// # Safety
/// The CPU must have AVX-512F, BW, VL, DQ and AVX512_BF16 (the AMX path's CPUs have them).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,avx512bf16")]
pub unsafe fn exp_to_bf16(row: &[f32], out: &mut [u16]) -> f32 {
    use std::arch::x86_64::*;
    const L: usize = 16;
    let n = row.len();
    assert!(out.len() >= n);
    // Lanes of the last, partial vector.
    let tail = (n % L) as u32;
    let tail_mask: __mmask16 = if tail == 0 {
        0
    } else {
        ((1u32 << tail) - 1) as u16
    };
    let body = n - n % L;
    let p = row.as_ptr();
    let mut m = _mm512_set1_ps(f32::NEG_INFINITY);
    for j in (0..body).step_by(L) {
        m = _mm512_max_ps(m, _mm512_loadu_ps(p.add(j)));
    }
    if tail_mask != 0 {
        m = _mm512_mask_max_ps(
            m,
            tail_mask,
            m,
            _mm512_maskz_loadu_ps(tail_mask, p.add(body)),
        );
    }
    let m = _mm512_set1_ps(_mm512_reduce_max_ps(m));
    let mut sum = _mm512_setzero_ps();
    let o = out.as_mut_ptr();
    for j in (0..body).step_by(L) {
        let e = exp2_poly(_mm512_sub_ps(_mm512_loadu_ps(p.add(j)), m));
        _mm256_storeu_si256(o.add(j) as *mut __m256i, round::<true>(e));
        sum = _mm512_add_ps(sum, e);
    }
    if tail_mask != 0 {
        let e = exp2_poly(_mm512_sub_ps(
            _mm512_maskz_loadu_ps(tail_mask, p.add(body)),
            m,
        ));
        _mm256_mask_storeu_epi16(o.add(body) as *mut i16, tail_mask, round::<true>(e));
        sum = _mm512_mask_add_ps(sum, tail_mask, sum, e);
    }
    _mm512_reduce_add_ps(sum)
}

/// `exp(x)` for `x ≤ 0` (softmax arguments), 16 lanes: `2^n · p(f)` with `n = round(x·log2 e)`,
/// `f` the rest in [-0.5, 0.5], `p` a degree-4 fit of `2^f` (relative error 2.7e-6), and
/// `vscalefps` for `2^n`; below `2^-126` it gives 0 or a denormal, never NaN.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn exp2_poly(x: std::arch::x86_64::__m512) -> std::arch::x86_64::__m512 {
    use std::arch::x86_64::*;
    let splat = _mm512_set1_ps;
    let t = _mm512_max_ps(
        _mm512_mul_ps(x, splat(std::f32::consts::LOG2_E)),
        splat(-150.0),
    );
    let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(t);
    let f = _mm512_sub_ps(t, n);
    let mut q = splat(0.009_570_037);
    q = _mm512_fmadd_ps(q, f, splat(0.055_917_717));
    q = _mm512_fmadd_ps(q, f, splat(0.240_247_44));
    q = _mm512_fmadd_ps(q, f, splat(0.693_121_85));
    q = _mm512_fmadd_ps(q, f, splat(0.999_999_3));
    _mm512_scalef_ps(q, n)
}

/// The scalar GELU of the tail columns, as `cpu_ops` computes it.
#[cfg(target_arch = "x86_64")]
fn gelu_scalar(y: f32) -> f32 {
    0.5 * y * (1.0 + super::scalar::erf(y * std::f32::consts::FRAC_1_SQRT_2))
}

/// `cpu_ops::exp`, 16 lanes (arguments here are ≤ 0).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn exp(x: std::arch::x86_64::__m512) -> std::arch::x86_64::__m512 {
    use std::arch::x86_64::*;
    let splat = _mm512_set1_ps;
    const ROUNDER: f32 = 12_582_912.0;
    let x = _mm512_min_ps(_mm512_max_ps(x, splat(-87.0)), splat(88.0));
    let t = _mm512_fmadd_ps(x, splat(std::f32::consts::LOG2_E), splat(ROUNDER));
    let nf = _mm512_sub_ps(t, splat(ROUNDER));
    let k = _mm512_sub_epi32(
        _mm512_castps_si512(t),
        _mm512_set1_epi32(ROUNDER.to_bits() as i32),
    );
    let r = _mm512_fmadd_ps(
        nf,
        splat(2.121_944_4e-4),
        _mm512_fnmadd_ps(nf, splat(0.693_359_4), x),
    );
    let mut p = splat(1.987_569_1e-4);
    p = _mm512_fmadd_ps(p, r, splat(1.398_2e-3));
    p = _mm512_fmadd_ps(p, r, splat(8.333_452e-3));
    p = _mm512_fmadd_ps(p, r, splat(4.166_579_6e-2));
    p = _mm512_fmadd_ps(p, r, splat(1.666_666_5e-1));
    p = _mm512_fmadd_ps(p, r, splat(0.5));
    let e = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), splat(1.0));
    let scale = _mm512_slli_epi32::<23>(_mm512_add_epi32(k, _mm512_set1_epi32(127)));
    _mm512_mul_ps(e, _mm512_castsi512_ps(scale))
}

/// Rounds 16 lanes to bf16: `vcvtneps2bf16` when `NATIVE` (the caller has AVX512_BF16),
/// else [`to_bf16`].
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn round<const NATIVE: bool>(v: std::arch::x86_64::__m512) -> std::arch::x86_64::__m256i {
    use std::arch::x86_64::*;
    if NATIVE {
        std::mem::transmute::<__m256bh, __m256i>(_mm512_cvtneps_pbh(v))
    } else {
        to_bf16(v)
    }
}

/// `packed::to_bf16`, 16 lanes: round to nearest even, NaN to the quiet NaN 0x7fc0.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn to_bf16(v: std::arch::x86_64::__m512) -> std::arch::x86_64::__m256i {
    use std::arch::x86_64::*;
    let b = _mm512_castps_si512(v);
    let lsb = _mm512_and_si512(_mm512_srli_epi32::<16>(b), _mm512_set1_epi32(1));
    let rounded = _mm512_srli_epi32::<16>(_mm512_add_epi32(
        b,
        _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff)),
    ));
    let nan = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v, v);
    let out = _mm512_mask_mov_epi32(rounded, nan, _mm512_set1_epi32(0x7fc0));
    _mm512_cvtepi32_epi16(out)
}
