//! Scalar math shared by the model's plain code (`cpu_ops`) and the vector kernels: a
//! branch-free `exp` and `erf` (about 1e-7 relative error) that loops over them can
//! vectorise. Plain functions of `f32`; it imports nothing.

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
