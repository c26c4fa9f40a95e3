//! The AVX512_BF16 kernel of the bf16 dense-layer product: `vdpbf16ps` multiplies a
//! broadcast pair of input values with one 64-byte row of a weight panel (16 columns × the
//! same pair of depths) and adds both products into 16 f32 sums. A block is 8 rows × 2
//! panels (16 accumulators, 2 weight loads and 8 broadcasts per 32 products).
//!
//! Only [`super::packed::gemm_bf16`] calls it, on CPUs where `KernelPath::Avx512Bf16` is
//! supported; it must not be reached otherwise.

use super::packed::{PackedBf16, PANEL_COLS, ROW_BLOCK};

/// Rows of one register block.
const ROWS: usize = 8;

/// `c[rows, ·] = a[rows, k_pad] · w` for `rows` a multiple of [`ROW_BLOCK`].
pub fn gemm_rows(a: &[u16], a_stride: usize, w: &PackedBf16, c: &mut [f32], c_stride: usize) {
    let rows = a.len() / a_stride;
    assert!(rows.is_multiple_of(ROW_BLOCK) && c.len() >= rows * c_stride && a_stride >= w.k_pad());
    assert!(c_stride >= w.n_pad());
    #[cfg(target_arch = "x86_64")]
    {
        assert!(super::path::KernelPath::Avx512Bf16.supported());
        // SAFETY: the CPU has AVX-512F/BW/VL and AVX512_BF16 (asserted), and the asserts
        // above bound every row and column the kernel touches.
        unsafe { kernel(a, a_stride, w, c, c_stride, rows) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("AVX512_BF16 outside x86-64");
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512bf16")]
unsafe fn kernel(
    a: &[u16],
    a_stride: usize,
    w: &PackedBf16,
    c: &mut [f32],
    c_stride: usize,
    rows: usize,
) {
    use std::arch::x86_64::*;
    let pairs = w.k_pad() / 2;
    let ap = a.as_ptr();
    let cp = c.as_mut_ptr();
    for p in (0..w.n_pad() / PANEL_COLS).step_by(2) {
        let w0 = w.panel(p).as_ptr();
        let w1 = w.panel(p + 1).as_ptr();
        for r0 in (0..rows).step_by(ROWS) {
            let mut acc0 = [_mm512_setzero_ps(); ROWS];
            let mut acc1 = [_mm512_setzero_ps(); ROWS];
            for i in 0..pairs {
                // SAFETY (whole block): i < k_pad/2, so 2i+1 < k_pad ≤ a_stride and the
                // panel rows read are inside the panels; r0 + r < rows.
                let b0: __m512bh = std::mem::transmute(_mm512_loadu_si512(
                    w0.add(i * 2 * PANEL_COLS) as *const __m512i,
                ));
                let b1: __m512bh = std::mem::transmute(_mm512_loadu_si512(
                    w1.add(i * 2 * PANEL_COLS) as *const __m512i,
                ));
                for r in 0..ROWS {
                    let pair = (ap.add((r0 + r) * a_stride + 2 * i) as *const i32).read_unaligned();
                    let x: __m512bh = std::mem::transmute(_mm512_set1_epi32(pair));
                    acc0[r] = _mm512_dpbf16_ps(acc0[r], x, b0);
                    acc1[r] = _mm512_dpbf16_ps(acc1[r], x, b1);
                }
            }
            for r in 0..ROWS {
                let out = cp.add((r0 + r) * c_stride + p * PANEL_COLS);
                _mm512_storeu_ps(out, acc0[r]);
                _mm512_storeu_ps(out.add(PANEL_COLS), acc1[r]);
            }
        }
    }
}
