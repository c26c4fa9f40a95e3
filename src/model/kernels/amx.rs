//! The AMX-BF16 kernel of the bf16 dense-layer product, in stable Rust `asm!`: the
//! process asks Linux for the tile data state once (`arch_prctl(ARCH_REQ_XCOMP_PERM,
//! XFEATURE_XTILEDATA)`), each call loads a tile configuration (eight 16 × 64-byte tiles),
//! and a block of 32 rows × 32 columns is four f32 accumulator tiles fed by two input tiles
//! (`tileloadd`) and two weight tiles per 32 depths (`tdpbf16ps`), stored with `tilestored`.
//!
//! The bf16 attention of the AMX path ([`attention_heads`]) runs its Q·Kᵀ and P·V on the
//! same kernel, reading the bf16 Q/K/V the product's epilogue wrote, Kᵀ and V copied
//! straight into panels of that layout, and writing bf16 context rows. Every buffer a
//! tile row is loaded from or stored to starts on a 64-byte boundary ([`AlignedBuf`]):
//! a row straddling two cache lines halves the kernel's rate.
//!
//! Only [`super::packed::gemm_bf16`] and the attention of `cpu_ops` call it, on CPUs where
//! [`available`] said yes; each call releases the tiles (`tilerelease`) before it returns,
//! and touches no other state.

use super::aligned::AlignedBuf;
use super::packed::{to_bf16, PackedBf16, Panels, K_STEP, PANEL_COLS, ROW_BLOCK};

/// Rows of one tile (and of the accumulators).
const TILE_ROWS: usize = 16;
/// Bytes of one tile row.
const TILE_BYTES_PER_ROW: usize = 64;

/// Whether the CPU has AMX-TILE and AMX-BF16 and Linux granted this process the tile
/// data state (asked once).
pub fn available() -> bool {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        use std::sync::OnceLock;
        static GRANTED: OnceLock<bool> = OnceLock::new();
        *GRANTED.get_or_init(|| cpu_has_amx_bf16() && request_tile_permission())
    }
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    false
}

/// CPUID leaf 7, sub-leaf 0, EDX: bit 22 AMX-BF16, bit 24 AMX-TILE; and the OS saves the
/// tile state (XCR0 bits 17 and 18, read with `xgetbv` when OSXSAVE is set).
#[cfg(target_arch = "x86_64")]
fn cpu_has_amx_bf16() -> bool {
    use std::arch::x86_64::{__cpuid, __cpuid_count};
    let max_leaf = __cpuid(0).eax;
    if max_leaf < 7 {
        return false;
    }
    let edx = __cpuid_count(7, 0).edx;
    let osxsave = __cpuid(1).ecx & (1 << 27) != 0;
    if edx & (1 << 22) == 0 || edx & (1 << 24) == 0 || !osxsave {
        return false;
    }
    let xcr0: u64;
    // SAFETY: XGETBV with ECX = 0 is defined when OSXSAVE is set (checked above).
    unsafe {
        let (lo, hi): (u32, u32);
        std::arch::asm!("xgetbv", in("ecx") 0u32, out("eax") lo, out("edx") hi,
            options(nomem, nostack, preserves_flags));
        xcr0 = (hi as u64) << 32 | lo as u64;
    }
    xcr0 & (0b11 << 17) == 0b11 << 17
}

/// Asks Linux to let this process use the AMX tile data (needed once per process, before
/// the first tile instruction; without it that instruction faults).
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn request_tile_permission() -> bool {
    const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
    const XFEATURE_XTILEDATA: libc::c_long = 18;
    // SAFETY: arch_prctl with these arguments only changes this process's permission set.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_arch_prctl,
            ARCH_REQ_XCOMP_PERM,
            XFEATURE_XTILEDATA,
        )
    };
    rc == 0
}

/// The 64-byte operand of `ldtilecfg`: palette 1, bytes per row and rows of each tile.
#[repr(C, align(64))]
struct TileConfig {
    palette: u8,
    start_row: u8,
    reserved: [u8; 14],
    colsb: [u16; 16],
    rows: [u8; 16],
}

impl TileConfig {
    /// Eight full tiles: tmm0-3 accumulators, tmm4-5 inputs, tmm6-7 weights.
    fn full() -> TileConfig {
        let mut cfg = TileConfig {
            palette: 1,
            start_row: 0,
            reserved: [0; 14],
            colsb: [0; 16],
            rows: [0; 16],
        };
        for t in 0..8 {
            cfg.colsb[t] = TILE_BYTES_PER_ROW as u16;
            cfg.rows[t] = TILE_ROWS as u8;
        }
        cfg
    }
}

/// `c[rows, ·] = a[rows, k_pad] · w` for `rows` a multiple of [`ROW_BLOCK`].
pub fn gemm_rows(a: &[u16], a_stride: usize, w: &PackedBf16, c: &mut [f32], c_stride: usize) {
    gemm_panels(a, a_stride, w.panels(), c, c_stride)
}

/// [`gemm_rows`] on borrowed panels (the packed weights', or a head's Kᵀ and V).
pub fn gemm_panels(a: &[u16], a_stride: usize, w: Panels<'_>, c: &mut [f32], c_stride: usize) {
    let rows = a.len() / a_stride;
    assert!(rows.is_multiple_of(ROW_BLOCK) && c.len() >= rows * c_stride && a_stride >= w.k_pad());
    assert!(c_stride >= w.n_pad() && w.k_pad().is_multiple_of(K_STEP));
    assert!(available(), "AMX kernel called without AMX");
    #[cfg(target_arch = "x86_64")]
    // SAFETY: AMX is available and permitted (asserted); the asserts above bound every tile
    // row loaded from `a` and the panels, and every tile row stored into `c`.
    unsafe {
        kernel(a, a_stride, w, c, c_stride, rows)
    }
}

#[cfg(target_arch = "x86_64")]
unsafe fn kernel(
    a: &[u16],
    a_stride: usize,
    w: Panels<'_>,
    c: &mut [f32],
    c_stride: usize,
    rows: usize,
) {
    use std::arch::asm;
    let cfg = TileConfig::full();
    asm!("ldtilecfg [{}]", in(reg) &cfg as *const TileConfig, options(nostack, readonly));
    let lda = a_stride * 2;
    let ldc = c_stride * 4;
    let wstride = TILE_BYTES_PER_ROW;
    // A weight tile is 16 pair-rows of a panel: 32 depths × 16 columns, 1 KiB.
    let wtile = TILE_ROWS * 2 * PANEL_COLS;
    let steps = w.k_pad() / K_STEP;
    let ap = a.as_ptr();
    let cp = c.as_mut_ptr();
    // Row blocks outer: a block's 32 input rows stay in L1 while the weight panels stream
    // from L2 (measured 10-30 % faster than panels outer on [4096,384]x[384,1536] and
    // [384,1152]; equal on [1536,384]).
    for r0 in (0..rows).step_by(ROW_BLOCK) {
        for p in (0..w.n_pad() / PANEL_COLS).step_by(2) {
            let w0 = w.panel(p).as_ptr();
            let w1 = w.panel(p + 1).as_ptr();
            asm!(
                "tilezero tmm0",
                "tilezero tmm1",
                "tilezero tmm2",
                "tilezero tmm3",
                options(nostack, nomem)
            );
            let a0 = ap.add(r0 * a_stride);
            let a1 = ap.add((r0 + TILE_ROWS) * a_stride);
            for s in 0..steps {
                asm!(
                    "tileloadd tmm4, [{a0} + {lda}*1]",
                    "tileloadd tmm5, [{a1} + {lda}*1]",
                    "tileloadd tmm6, [{w0} + {ws}*1]",
                    "tileloadd tmm7, [{w1} + {ws}*1]",
                    "tdpbf16ps tmm0, tmm4, tmm6",
                    "tdpbf16ps tmm1, tmm4, tmm7",
                    "tdpbf16ps tmm2, tmm5, tmm6",
                    "tdpbf16ps tmm3, tmm5, tmm7",
                    a0 = in(reg) a0.add(s * K_STEP),
                    a1 = in(reg) a1.add(s * K_STEP),
                    w0 = in(reg) w0.add(s * wtile),
                    w1 = in(reg) w1.add(s * wtile),
                    lda = in(reg) lda,
                    ws = in(reg) wstride,
                    options(nostack, readonly)
                );
            }
            let c0 = cp.add(r0 * c_stride + p * PANEL_COLS);
            let c1 = cp.add((r0 + TILE_ROWS) * c_stride + p * PANEL_COLS);
            asm!(
                "tilestored [{c00} + {ldc}*1], tmm0",
                "tilestored [{c01} + {ldc}*1], tmm1",
                "tilestored [{c10} + {ldc}*1], tmm2",
                "tilestored [{c11} + {ldc}*1], tmm3",
                c00 = in(reg) c0,
                c01 = in(reg) c0.add(PANEL_COLS),
                c10 = in(reg) c1,
                c11 = in(reg) c1.add(PANEL_COLS),
                ldc = in(reg) ldc,
                options(nostack)
            );
        }
    }
    asm!("tilerelease", options(nostack, nomem));
}

/// Head width the tile attention handles: one 64-byte tile row of bf16 (narrower heads are
/// zero-padded to it; wider ones take the f32 attention).
pub const ATTENTION_HEAD: usize = 32;
/// Query rows whose scores are computed at once (a multiple of [`ROW_BLOCK`]): their f32
/// scores, at most 64 × 512 × 4 B = 128 KiB, stay in L2 between Q·Kᵀ, softmax and P·V.
const ATTENTION_QUERY_BLOCK: usize = 2 * ROW_BLOCK;

/// Consecutive heads of one sequence as the fused Q/K/V product's epilogue leaves them:
/// bf16, biases added (and Q scaled, like its weights); head `i` of the group has columns
/// `cols[part] + i · dh`.
#[derive(Debug, Clone, Copy)]
pub struct HeadsQkv<'a> {
    /// The sequence's rows of the product: row `r` is `qkv[r · stride..]`.
    pub qkv: &'a [u16],
    pub stride: usize,
    /// Keys (and queries) of the sequence.
    pub len: usize,
    /// Head width, at most [`ATTENTION_HEAD`].
    pub dh: usize,
    /// Heads in the group.
    pub heads: usize,
    /// First column of the group's Q, K and V in a row.
    pub cols: [usize; 3],
}

/// Attention of a group of heads of one sequence on AMX tiles, bf16 inputs and f32 sums,
/// softmax in f32: `ctx_i = Σ_j softmax_j(q_i · k_j) v_j` per head. Q, K and V are read
/// row by row from the product (each row once, in order, for every head of the group),
/// straight into the tile layouts: Q as rows, Kᵀ and V as [`Panels`], so that both
/// products are [`gemm_panels`]. `emit(head, i, ctx_i)` receives each of the `len` rows
/// (`dh` values, rounded to bf16: the next product's input) of each head. Scratch is per
/// thread and reused.
pub fn attention_heads(x: &HeadsQkv<'_>, emit: &mut dyn FnMut(usize, usize, &[u16])) {
    let HeadsQkv {
        qkv,
        stride,
        len,
        dh,
        heads,
        cols,
    } = *x;
    assert!(len > 0 && dh > 0 && dh <= ATTENTION_HEAD && heads > 0);
    let width = heads * dh;
    assert!(cols.iter().all(|&c| c + width <= stride));
    assert!(qkv.len() >= (len - 1) * stride + cols.iter().max().unwrap() + width);
    assert!(available(), "AMX kernel called without AMX");
    thread_local! {
        static SCRATCH: std::cell::RefCell<HeadScratch> =
            const { std::cell::RefCell::new(HeadScratch::new()) };
    }
    SCRATCH.with(|s| {
        let s = &mut *s.borrow_mut();
        #[cfg(target_arch = "x86_64")]
        // SAFETY: AVX-512 and AVX512_BF16 come with the AMX path (KernelPath::Amx implies
        // them); the body only indexes checked slices and calls the asserted tile kernels.
        unsafe {
            attention_kernel(x, s, emit)
        }
    })
}

/// The buffers of one group of heads, kept per thread.
struct HeadScratch {
    /// Per head: Q `[rows_pad, 32]`, Kᵀ panels `[32, lp]`, V panels `[lp, 32]`, bf16.
    /// All aligned, like the dense layers' buffers: their rows are tile rows.
    q: AlignedBuf<u16>,
    kt: AlignedBuf<u16>,
    v: AlignedBuf<u16>,
    /// Scores of a query block (f32) and their softmax (bf16), `[block, lp]`.
    scores: AlignedBuf<f32>,
    probs: AlignedBuf<u16>,
    /// Context of a query block, `[block, 32]`.
    ctx: AlignedBuf<f32>,
}

impl HeadScratch {
    const fn new() -> HeadScratch {
        HeadScratch {
            q: AlignedBuf::new(),
            kt: AlignedBuf::new(),
            v: AlignedBuf::new(),
            scores: AlignedBuf::new(),
            probs: AlignedBuf::new(),
            ctx: AlignedBuf::new(),
        }
    }
}

/// `dst[..src.len()] = src` for a head's row: a fixed 64-byte move when the head is a whole
/// tile row wide (a `memcpy` call per row was 1.4 % of the forward pass), a slice copy else.
#[inline(always)]
pub fn copy_head_row(dst: &mut [u16], src: &[u16]) {
    match <&[u16; ATTENTION_HEAD]>::try_from(src) {
        Ok(full) => {
            let d: &mut [u16; ATTENTION_HEAD] = (&mut dst[..ATTENTION_HEAD]).try_into().unwrap();
            *d = *full;
        }
        Err(_) => dst[..src.len()].copy_from_slice(src),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")]
unsafe fn attention_kernel(
    x: &HeadsQkv<'_>,
    s: &mut HeadScratch,
    emit: &mut dyn FnMut(usize, usize, &[u16]),
) {
    const D: usize = ATTENTION_HEAD;
    const P: usize = PANEL_COLS;
    let HeadsQkv {
        qkv,
        stride,
        len,
        dh,
        heads,
        cols,
    } = *x;
    // Keys padded to two panels (a whole B tile pair of Q·Kᵀ, a K_STEP of P·V).
    let lp = len.next_multiple_of(2 * P);
    let rows_pad = len.next_multiple_of(ROW_BLOCK);
    let (q_len, kv_len) = (rows_pad * D, lp * D);
    // Every padding value must be zero. The loop below writes every query and key row,
    // those past `len` as zeros (`rows_pad == lp`), so with full-width heads it writes
    // every value; narrower heads leave columns past `dh` alone, zeroed here.
    debug_assert_eq!(rows_pad, lp);
    if dh < D {
        s.q.clear();
        s.kt.clear();
        s.v.clear();
    }
    s.q.resize(heads * q_len, 0);
    s.kt.resize(heads * kv_len, 0);
    s.v.resize(heads * kv_len, 0);
    let zeros = [0u16; D];
    let mut b = [0u16; D];
    for r in 0..lp {
        let at = |part: usize, h: usize| {
            if r < len {
                &qkv[r * stride + cols[part] + h * dh..][..dh]
            } else {
                &zeros[..dh]
            }
        };
        for h in 0..heads {
            // Q rows (the tail past `dh` stays zero from the clearing above).
            copy_head_row(&mut s.q[h * q_len + r * D..][..D], at(0, h));
            // Kᵀ: panel p holds keys 16p..16p+16, row i the depths 2i, 2i+1 of each key:
            // a key's 32 bf16 values are its 16 depth pairs, one per panel row (`b`'s
            // tail past `dh` is never written: zero).
            copy_head_row(&mut b, at(1, h));
            let panel = &mut s.kt[h * kv_len + (r / P) * D * P..][..D * P];
            for (i, pair) in b.chunks_exact(2).enumerate() {
                panel[i * 2 * P + 2 * (r % P)..][..2].copy_from_slice(pair);
            }
            // V: panel p holds dims 16p..16p+16, row i the keys 2i, 2i+1 of each dim.
            copy_head_row(&mut b, at(2, h));
            let v = &mut s.v[h * kv_len..][..kv_len];
            for p in 0..D / P {
                let out = &mut v[p * lp * P + (r / 2) * 2 * P + r % 2..];
                for (d, &x) in b[p * P..(p + 1) * P].iter().enumerate() {
                    out[2 * d] = x;
                }
            }
        }
    }
    let block = ATTENTION_QUERY_BLOCK.min(rows_pad);
    s.scores.resize(block * lp, 0.0);
    s.probs.resize(block * lp, 0);
    s.ctx.resize(block * D, 0.0);
    for h in 0..heads {
        let q = &s.q[h * q_len..][..q_len];
        let kt = Panels::new(&s.kt[h * kv_len..][..kv_len], D, lp);
        let v = Panels::new(&s.v[h * kv_len..][..kv_len], lp, D);
        for q0 in (0..rows_pad).step_by(block) {
            let rows = block.min(rows_pad - q0);
            // Rows past `len` are padding (q0 < len: rows_pad is len rounded up to a block).
            let real = rows.min(len - q0);
            gemm_panels(&q[q0 * D..(q0 + rows) * D], D, kt, &mut s.scores, lp);
            let pairs = s
                .scores
                .chunks_exact_mut(lp)
                .zip(s.probs.chunks_exact_mut(lp));
            // Softmax in two passes: the unnormalised exponentials go to P·V in bf16 (a
            // bf16 rounding is as fine at any scale), and each context row, 32 values, is
            // divided by its row's sum instead of every probability.
            let mut inv = [0f32; ATTENTION_QUERY_BLOCK];
            for (i, (sr, pr)) in pairs.take(rows).enumerate() {
                if i < real {
                    let sum = super::avx512_math::exp_to_bf16(&sr[..len], &mut pr[..len]);
                    inv[i] = 1.0 / sum;
                    pr[len..].fill(0);
                } else {
                    pr.fill(0);
                }
            }
            gemm_panels(&s.probs[..rows * lp], lp, v, &mut s.ctx, D);
            let mut row = [0u16; D];
            for (i, c) in s.ctx.chunks_exact(D).take(real).enumerate() {
                for (d, &v) in row.iter_mut().zip(&c[..dh]) {
                    *d = to_bf16(v * inv[i]);
                }
                emit(h, q0 + i, &row[..dh]);
            }
        }
    }
}
