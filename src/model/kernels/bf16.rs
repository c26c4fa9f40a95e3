//! The bf16 dense-layer product `C[m, n] = A[m, k] · W[k, n]`: weights packed once into
//! bf16 panels ([`PackedBf16`]), inputs rounded to bf16 (round to nearest even) per call,
//! products accumulated in f32 and returned in f32. The AMX and AVX512_BF16 kernels and a
//! portable one (any CPU, the reference the others are tested against) share the layout.
//!
//! It must not round anything but the two inputs: outputs, and everything done with them,
//! stay f32.

use rayon::prelude::*;

use super::aligned::AlignedBuf;
pub use super::packed::{
    from_bf16, round_rows, to_bf16, PackedBf16, Panels, K_STEP, PANEL_COLS, ROW_BLOCK,
};
use super::path::KernelPath;
use super::{amx, avx512bf16};

/// Rows of one parallel task: a band of A that stays in L2 while the weight panels stream.
const BAND_ROWS: usize = 4 * ROW_BLOCK;

/// Rounds `a` (`[m, k]` f32) into `dst` as the bf16 input of a product with `w`:
/// `[m_pad, k_pad]` with `m_pad` = `m` rounded up to [`ROW_BLOCK`]. `dst` is reused: it is
/// resized, not cleared, so padding rows may hold stale values (they only reach padding
/// rows of the output, which no caller reads).
pub fn round_input(path: KernelPath, a: &[f32], w: &PackedBf16, dst: &mut AlignedBuf<u16>) {
    let k = w.k();
    assert!(k > 0 && a.len().is_multiple_of(k), "input is not [m, k]");
    let m = a.len() / k;
    let stride = w.k_pad();
    dst.resize(m.next_multiple_of(ROW_BLOCK) * stride, 0);
    let isa = path.vector_isa();
    dst.par_chunks_mut(stride * BAND_ROWS)
        .zip(a.par_chunks(k * BAND_ROWS))
        .for_each(|(d, s)| round_rows(isa, s, k, d, stride));
}

/// `C = A · W` from an input already rounded by [`round_input`] (or written in that layout
/// by a fused kernel): `a` is `[m_pad, k_pad]` bf16 for `m` real rows, 64-byte aligned (an
/// [`AlignedBuf`], or a part of one starting at a row) for the kernels to run at full rate.
/// `c` is reused (resized, never zeroed: the kernels write every element) and left holding
/// `[m, n]` f32.
pub fn gemm_bf16_into(
    path: KernelPath,
    a: &[u16],
    m: usize,
    w: &PackedBf16,
    c: &mut AlignedBuf<f32>,
) {
    let stride = w.k_pad();
    let m_pad = m.next_multiple_of(ROW_BLOCK);
    assert!(
        a.len() >= m_pad * stride,
        "input shorter than [m_pad, k_pad]"
    );
    let isa = path.vector_isa();
    let n_pad = w.n_pad();
    c.resize(m_pad * n_pad, 0.0);
    c.par_chunks_mut(n_pad * BAND_ROWS)
        .zip(a[..m_pad * stride].par_chunks(stride * BAND_ROWS))
        .for_each(|(c, a)| match path {
            KernelPath::Amx => amx::gemm_rows(a, stride, w, c, n_pad),
            KernelPath::Avx512Bf16 => avx512bf16::gemm_rows(a, stride, w, c, n_pad),
            _ => portable_rows(isa, a, stride, w, c, n_pad),
        });
    let n = w.n();
    if n != n_pad {
        for r in 1..m {
            c.copy_within(r * n_pad..r * n_pad + n, r * n);
        }
    }
    c.truncate(m * n);
}

/// `C = A · W` band by band (as [`gemm_bf16_into`]), each band of [`BAND_ROWS`] rows of C
/// computed into a per-thread scratch that stays in L2 and handed at once, `[rows, n]` f32,
/// to `epilogue` with the matching band of `out` (`out_row` values per row). The product
/// never goes to memory in f32: for GELU, whose output feeds only the next product, this
/// saves writing and re-reading the widest activation of the layer.
pub fn gemm_bf16_epilogue<T: Send>(
    path: KernelPath,
    a: &[u16],
    m: usize,
    w: &PackedBf16,
    out: &mut [T],
    out_row: usize,
    epilogue: impl Fn(&[f32], &mut [T]) + Sync,
) {
    thread_local! {
        static BAND: std::cell::RefCell<AlignedBuf<f32>> =
            const { std::cell::RefCell::new(AlignedBuf::new()) };
    }
    let stride = w.k_pad();
    let m_pad = m.next_multiple_of(ROW_BLOCK);
    assert!(
        a.len() >= m_pad * stride,
        "input shorter than [m_pad, k_pad]"
    );
    assert!(out.len() >= m * out_row, "output shorter than [m, out_row]");
    let isa = path.vector_isa();
    let (n, n_pad) = (w.n(), w.n_pad());
    out[..m * out_row]
        .par_chunks_mut(out_row * BAND_ROWS)
        .zip(a[..m_pad * stride].par_chunks(stride * BAND_ROWS))
        .for_each(|(o, a)| {
            let real = o.len() / out_row;
            let rows = a.len() / stride;
            BAND.with(|band| {
                let mut c = band.borrow_mut();
                c.resize(rows * n_pad, 0.0);
                match path {
                    KernelPath::Amx => amx::gemm_rows(a, stride, w, &mut c, n_pad),
                    KernelPath::Avx512Bf16 => avx512bf16::gemm_rows(a, stride, w, &mut c, n_pad),
                    _ => portable_rows(isa, a, stride, w, &mut c, n_pad),
                }
                if n != n_pad {
                    for r in 1..real {
                        c.copy_within(r * n_pad..r * n_pad + n, r * n);
                    }
                }
                epilogue(&c[..real * n], o);
            });
        });
}

crate::multiversion! {
    /// The portable kernel: `c[rows, n_pad] = a[rows, k_pad] · w` for `rows` a multiple of
    /// [`ROW_BLOCK`], in f32 from bf16 inputs, four rows at a time per panel.
    pub fn portable_rows(a: &[u16], a_stride: usize, w: &PackedBf16, c: &mut [f32], c_stride: usize) {
        const R: usize = 4;
        let rows = a.len() / a_stride;
        let pairs = w.k_pad() / 2;
        for p in 0..w.n_pad() / PANEL_COLS {
            let panel = w.panel(p);
            for r0 in (0..rows).step_by(R) {
                let mut acc = [[0f32; PANEL_COLS]; R];
                for i in 0..pairs {
                    let wr = &panel[i * 2 * PANEL_COLS..(i + 1) * 2 * PANEL_COLS];
                    for (r, acc) in acc.iter_mut().enumerate() {
                        let x0 = from_bf16(a[(r0 + r) * a_stride + 2 * i]);
                        let x1 = from_bf16(a[(r0 + r) * a_stride + 2 * i + 1]);
                        for (j, acc) in acc.iter_mut().enumerate() {
                            let s = x0 * from_bf16(wr[2 * j]) + x1 * from_bf16(wr[2 * j + 1]);
                            *acc += s;
                        }
                    }
                }
                for (r, acc) in acc.iter().enumerate() {
                    c[(r0 + r) * c_stride + p * PANEL_COLS..][..PANEL_COLS].copy_from_slice(acc);
                }
            }
        }
    }
}

/// `A[m, k] · W` in bf16 with f32 accumulation on `path`'s kernel; returns `[m, n]` f32.
/// `a` is row-major f32 with `k == w.k()`.
pub fn gemm_bf16(path: KernelPath, a: &[f32], w: &PackedBf16) -> Vec<f32> {
    let k = w.k();
    assert!(k > 0 && a.len().is_multiple_of(k), "input is not [m, k]");
    let m = a.len() / k;
    if m == 0 {
        return Vec::new();
    }
    let mut rows = AlignedBuf::new();
    let mut c = AlignedBuf::new();
    round_input(path, a, w, &mut rows);
    gemm_bf16_into(path, &rows, m, w, &mut c);
    c.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_to_nearest_even() {
        assert_eq!(to_bf16(1.0), 0x3f80);
        // 1 + 2^-8 is half-way between 1 and 1 + 2^-7: ties go to the even mantissa (1.0).
        assert_eq!(to_bf16(1.0 + 1.0 / 256.0), 0x3f80);
        // 1 + 3·2^-8 is half-way between 1 + 2^-7 and 1 + 2^-6: even is 1 + 2^-6.
        assert_eq!(to_bf16(1.0 + 3.0 / 256.0), 0x3f82);
        assert_eq!(to_bf16(-2.5), 0xc020);
        assert_eq!(from_bf16(to_bf16(0.15625)), 0.15625);
        assert!(from_bf16(to_bf16(f32::NAN)).is_nan());
        assert_eq!(from_bf16(to_bf16(f32::INFINITY)), f32::INFINITY);
    }

    /// A product whose inputs are exactly representable in bf16, so that every path must
    /// give the f64 product to f32 rounding of the sum.
    fn exact_case(m: usize, k: usize, n: usize) -> (Vec<f32>, Vec<f32>, Vec<f64>) {
        let val = |i: usize, s: usize| ((i * s + 7) % 17) as f32 / 8.0 - 1.0;
        let a: Vec<f32> = (0..m * k).map(|i| val(i, 31)).collect();
        let w: Vec<f32> = (0..k * n).map(|i| val(i, 13)).collect();
        let mut want = vec![0f64; m * n];
        for i in 0..m {
            for kk in 0..k {
                for j in 0..n {
                    want[i * n + j] += a[i * k + kk] as f64 * w[kk * n + j] as f64;
                }
            }
        }
        (a, w, want)
    }

    #[test]
    fn every_available_path_computes_the_product() {
        // Odd sizes: padding of m, k and n all exercised; and a band boundary.
        for (m, k, n) in [
            (1, 1, 1),
            (7, 40, 33),
            (BAND_ROWS + 3, 96, 64),
            (33, 384, 48),
        ] {
            let (a, w, want) = exact_case(m, k, n);
            let packed = PackedBf16::pack(&w, k, n);
            for path in KernelPath::available() {
                let got = gemm_bf16(path, &a, &packed);
                assert_eq!(got.len(), m * n);
                for (i, (g, e)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        (*g as f64 - e).abs() <= 1e-5 * e.abs().max(1.0),
                        "{path} [{m},{k},{n}] element {i}: {g} vs {e}"
                    );
                }
            }
        }
    }
}
