//! The AMX-BF16 kernel of the bf16 dense-layer product, in stable Rust `asm!`: the
//! process asks Linux for the tile data state once (`arch_prctl(ARCH_REQ_XCOMP_PERM,
//! XFEATURE_XTILEDATA)`), each call loads a tile configuration (eight 16 × 64-byte tiles),
//! and a block of 32 rows × 32 columns is four f32 accumulator tiles fed by two input tiles
//! (`tileloadd`) and two weight tiles per 32 depths (`tdpbf16ps`), stored with `tilestored`.
//!
//! Only [`super::bf16::gemm_bf16`] calls it, on CPUs where [`available`] said yes; it
//! releases the tiles (`tilerelease`) before it returns, and touches no other state.

use super::bf16::{PackedBf16, K_STEP, PANEL_COLS, ROW_BLOCK};

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
    w: &PackedBf16,
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
/// Keys per step of P·V (one tile row of bf16 probabilities); key counts are padded to it.
pub const ATTENTION_KEY_STEP: usize = 32;

/// One head of attention of one sequence on AMX tiles, bf16 inputs and f32 sums, softmax in
/// f32: `ctx[i] = Σ_j softmax_j(q_i · k_j) v_j` for the `len` rows of `q`, `k` and `v`,
/// each `[len, 32]` f32 (biases added, Q scaled). Writes `[len, 32]` into `ctx`.
pub fn attention_head(q: &[f32], k: &[f32], v: &[f32], len: usize, ctx: &mut [f32]) {
    let d = ATTENTION_HEAD;
    assert!(len > 0 && q.len() >= len * d && k.len() >= len * d && v.len() >= len * d);
    assert!(ctx.len() >= len * d);
    assert!(available(), "AMX kernel called without AMX");
    #[cfg(target_arch = "x86_64")]
    // SAFETY: AMX is available and permitted (asserted); the kernel reads and writes only
    // inside the buffers it allocates and the asserted lengths.
    unsafe {
        attention_kernel(q, k, v, len, ctx)
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")]
unsafe fn attention_kernel(q: &[f32], k: &[f32], v: &[f32], len: usize, ctx: &mut [f32]) {
    use super::bf16::to_bf16;
    use std::arch::asm;
    let d = ATTENTION_HEAD;
    let lp = len.next_multiple_of(ATTENTION_KEY_STEP);
    let rows_pad = len.next_multiple_of(TILE_ROWS);
    // Q [rows_pad, 32] bf16: a tile of 16 rows is 16 × 64 bytes.
    let mut qb = vec![0u16; rows_pad * d];
    for (dst, src) in qb.iter_mut().zip(&q[..len * d]) {
        *dst = to_bf16(*src);
    }
    // Kᵀ per 16 keys: 16 rows (depth pairs) × 16 keys × 2 depths.
    let mut kb = vec![0u16; lp * d];
    for j in 0..len {
        for dd in 0..d {
            kb[(j / 16) * 16 * d + (dd / 2) * 32 + (j % 16) * 2 + dd % 2] = to_bf16(k[j * d + dd]);
        }
    }
    // V per 32 keys and 16 dims: 16 rows (key pairs) × 16 dims × 2 keys.
    let mut vb = vec![0u16; lp * d];
    for j in 0..len {
        for dd in 0..d {
            let tile = (j / 32) * 2 + dd / 16;
            vb[tile * 512 + ((j % 32) / 2) * 32 + (dd % 16) * 2 + j % 2] = to_bf16(v[j * d + dd]);
        }
    }
    let mut scores = vec![0f32; TILE_ROWS * lp];
    let mut pb = vec![0u16; TILE_ROWS * lp];
    let mut out = [0f32; TILE_ROWS * ATTENTION_HEAD];
    let cfg = TileConfig::full();
    asm!("ldtilecfg [{}]", in(reg) &cfg as *const TileConfig, options(nostack, readonly));
    let row64 = TILE_BYTES_PER_ROW;
    for r0 in (0..rows_pad).step_by(TILE_ROWS) {
        asm!("tileloadd tmm4, [{q} + {s}*1]", q = in(reg) qb.as_ptr().add(r0 * d),
            s = in(reg) row64, options(nostack, readonly));
        for j0 in (0..lp).step_by(16) {
            asm!(
                "tilezero tmm0",
                "tileloadd tmm6, [{k} + {s}*1]",
                "tdpbf16ps tmm0, tmm4, tmm6",
                "tilestored [{c} + {ls}*1], tmm0",
                k = in(reg) kb.as_ptr().add(j0 * d),
                s = in(reg) row64,
                c = in(reg) scores.as_mut_ptr().add(j0),
                ls = in(reg) lp * 4,
                options(nostack)
            );
        }
        for (srow, prow) in scores.chunks_exact_mut(lp).zip(pb.chunks_exact_mut(lp)) {
            crate::model::cpu_ops::softmax_in_place(&mut srow[..len]);
            for (p, s) in prow.iter_mut().zip(&srow[..len]) {
                *p = to_bf16(*s);
            }
            prow[len..].fill(0);
        }
        asm!("tilezero tmm0", "tilezero tmm1", options(nostack, nomem));
        for j0 in (0..lp).step_by(ATTENTION_KEY_STEP) {
            let vt = vb.as_ptr().add((j0 / 32) * 2 * 512);
            asm!(
                "tileloadd tmm5, [{p} + {ps}*1]",
                "tileloadd tmm6, [{v0} + {s}*1]",
                "tileloadd tmm7, [{v1} + {s}*1]",
                "tdpbf16ps tmm0, tmm5, tmm6",
                "tdpbf16ps tmm1, tmm5, tmm7",
                p = in(reg) pb.as_ptr().add(j0),
                ps = in(reg) lp * 2,
                v0 = in(reg) vt,
                v1 = in(reg) vt.add(512),
                s = in(reg) row64,
                options(nostack, readonly)
            );
        }
        asm!(
            "tilestored [{c0} + {s}*1], tmm0",
            "tilestored [{c1} + {s}*1], tmm1",
            c0 = in(reg) out.as_mut_ptr(),
            c1 = in(reg) out.as_mut_ptr().add(16),
            s = in(reg) ATTENTION_HEAD * 4,
            options(nostack)
        );
        let real = TILE_ROWS.min(len - r0);
        ctx[r0 * d..(r0 + real) * d].copy_from_slice(&out[..real * d]);
    }
    asm!("tilerelease", options(nostack, nomem));
}
