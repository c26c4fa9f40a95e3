//! The bf16 layout every bf16 kernel shares: weights packed once into panels
//! ([`PackedBf16`], [`Panels`]), the tile sizes, and the f32 <-> bf16 roundings. Types and
//! conversions only: it runs no product and imports no kernel.

use super::aligned::AlignedBuf;

/// Columns of one weight panel: one AMX B-tile row, one 512-bit vector of f32 results.
pub const PANEL_COLS: usize = 16;
/// Input depth of one AMX tile step (a 64-byte tile row of bf16); `k` is padded to it.
pub const K_STEP: usize = 32;
/// Rows the kernels compute at a time; `m` is padded to it (two AMX tiles of 16 rows).
pub const ROW_BLOCK: usize = 32;

/// `f32 → bf16`, rounding to nearest even (NaN stays a quiet NaN). Branch-free, so loops
/// over it vectorise.
#[inline(always)]
pub fn to_bf16(x: f32) -> u16 {
    let b = x.to_bits();
    let rounded = (b.wrapping_add(0x7fff + ((b >> 16) & 1)) >> 16) as u16;
    if x.is_nan() {
        0x7fc0
    } else {
        rounded
    }
}

/// `bf16 → f32` (exact).
#[inline(always)]
pub fn from_bf16(x: u16) -> f32 {
    f32::from_bits((x as u32) << 16)
}

/// Weights `[k, n]` in bf16, packed for the kernels: `n` padded to a multiple of two
/// panels, `k` to [`K_STEP`], padding zero. Panel `p` holds columns `16p..16p+16`; inside
/// it, row `i` holds the pair of depths `2i, 2i+1` interleaved per column (AMX's "VNNI"
/// layout), so that one 64-byte row is one AMX B-tile row and one `vdpbf16ps` operand.
#[derive(Debug, Clone)]
pub struct PackedBf16 {
    k: usize,
    n: usize,
    k_pad: usize,
    n_pad: usize,
    /// 64-byte aligned, so that every panel row is one cache line.
    data: AlignedBuf<u16>,
}

impl PackedBf16 {
    /// Packs row-major f32 weights `w` of `[k, n]`.
    pub fn pack(w: &[f32], k: usize, n: usize) -> PackedBf16 {
        assert_eq!(w.len(), k * n, "weights are not [k, n]");
        let k_pad = k.next_multiple_of(K_STEP).max(K_STEP);
        let n_pad = n.next_multiple_of(2 * PANEL_COLS).max(2 * PANEL_COLS);
        let mut data = AlignedBuf::filled(k_pad * n_pad, 0u16);
        for (kk, row) in w.chunks_exact(n).enumerate() {
            for (j, &x) in row.iter().enumerate() {
                data[Self::offset(k_pad, kk, j)] = to_bf16(x);
            }
        }
        PackedBf16 {
            k,
            n,
            k_pad,
            n_pad,
            data,
        }
    }

    /// Index of weight `(kk, j)` in the packed data.
    fn offset(k_pad: usize, kk: usize, j: usize) -> usize {
        (j / PANEL_COLS) * k_pad * PANEL_COLS
            + (kk / 2) * 2 * PANEL_COLS
            + (j % PANEL_COLS) * 2
            + kk % 2
    }

    /// Input depth.
    pub fn k(&self) -> usize {
        self.k
    }
    /// Output width.
    pub fn n(&self) -> usize {
        self.n
    }
    /// Depth padded to [`K_STEP`].
    pub fn k_pad(&self) -> usize {
        self.k_pad
    }
    /// Width padded to two panels.
    pub fn n_pad(&self) -> usize {
        self.n_pad
    }
    /// Panel `p`: `k_pad / 2` rows of `2 · PANEL_COLS` values.
    pub fn panel(&self, p: usize) -> &[u16] {
        self.panels().panel(p)
    }
    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.data.len() * 2
    }
    /// The panels as the kernels read them.
    pub fn panels(&self) -> Panels<'_> {
        Panels::new(&self.data, self.k_pad, self.n_pad)
    }
}

/// Borrowed bf16 panels in the layout of [`PackedBf16`] (`k_pad` depths × `n_pad` columns,
/// panel after panel): the packed weights lend one, and the AMX attention builds them for
/// Kᵀ and V of one head in its own scratch.
#[derive(Debug, Clone, Copy)]
pub struct Panels<'a> {
    data: &'a [u16],
    k_pad: usize,
    n_pad: usize,
}

impl<'a> Panels<'a> {
    /// `data` holds at least `k_pad · n_pad` values; `k_pad` is a multiple of [`K_STEP`],
    /// `n_pad` of two panels.
    pub fn new(data: &'a [u16], k_pad: usize, n_pad: usize) -> Panels<'a> {
        assert!(k_pad > 0 && k_pad.is_multiple_of(K_STEP));
        assert!(n_pad > 0 && n_pad.is_multiple_of(2 * PANEL_COLS));
        assert!(
            data.len() >= k_pad * n_pad,
            "panels shorter than [k_pad, n_pad]"
        );
        Panels { data, k_pad, n_pad }
    }
    /// Depth (padded).
    pub fn k_pad(&self) -> usize {
        self.k_pad
    }
    /// Width (padded).
    pub fn n_pad(&self) -> usize {
        self.n_pad
    }
    /// Panel `p`: `k_pad / 2` rows of `2 · PANEL_COLS` values.
    pub fn panel(&self, p: usize) -> &'a [u16] {
        let len = self.k_pad * PANEL_COLS;
        &self.data[p * len..(p + 1) * len]
    }
}

crate::multiversion! {
    /// Rounds rows of `k` f32 values into rows of `stride` bf16 values (tail zeroed).
    pub fn round_rows(src: &[f32], k: usize, dst: &mut [u16], stride: usize) {
        for (s, d) in src.chunks_exact(k).zip(dst.chunks_exact_mut(stride)) {
            for (d, &x) in d.iter_mut().zip(s) {
                *d = to_bf16(x);
            }
            d[k..].fill(0);
        }
    }
}
