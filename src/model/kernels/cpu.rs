//! CPU feature checks, each made once: what the kernel paths ask of the CPU.
//!
//! It must not choose a path; that is [`super::path`]'s.

#[cfg(target_arch = "x86_64")]
macro_rules! once {
    ($($f:tt),*) => {{
        use std::sync::OnceLock;
        static HAS: OnceLock<bool> = OnceLock::new();
        *HAS.get_or_init(|| true $(&& std::arch::is_x86_feature_detected!($f))*)
    }};
}

/// AVX2 and FMA.
pub fn avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    return once!("avx2", "fma");
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// AVX-512 F, BW, VL and DQ (what the AVX-512 compiles assume), with AVX2 and FMA.
pub fn avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    return avx2_fma() && once!("avx512f", "avx512bw", "avx512vl", "avx512dq");
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// AVX512_BF16 (`vdpbf16ps`, `vcvtne2ps2bf16`).
pub fn avx512_bf16() -> bool {
    #[cfg(target_arch = "x86_64")]
    return once!("avx512bf16");
    #[cfg(not(target_arch = "x86_64"))]
    false
}
