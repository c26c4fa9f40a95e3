//! Which kernels this CPU runs: the [`KernelPath`] (AMX-BF16 tiles, AVX512_BF16 dot
//! products, AVX-512F, AVX2+FMA or portable code) chosen at run time or forced with
//! `SIMDEX_KERNEL`, the vector instruction set a path compiles for ([`VectorIsa`], and the
//! `multiversion!` macro that compiles one body for each), and the numeric [`Precision`] of
//! the dense layers.
//!
//! It must not run a kernel: it only names and checks them.

use serde::{Deserialize, Serialize};

use super::{amx, cpu};

/// Environment variable that forces a kernel path (`portable`, `avx2`, `avx512`,
/// `avx512bf16` or `amx`); unset, the best path this CPU has is taken.
pub const KERNEL_ENV: &str = "SIMDEX_KERNEL";

/// Errors of choosing a kernel path.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error(
        "{var}={value:?}: not a kernel path (one of: portable, avx2, avx512, avx512bf16, amx)"
    )]
    Unknown { var: &'static str, value: String },
    #[error(
        "{var}={value}: this CPU or its operating system lacks that path; paths here: {available}"
    )]
    Unsupported {
        var: &'static str,
        value: &'static str,
        available: String,
    },
}

/// A family of kernels, from the most portable to the fastest. Each path implies the ones
/// before it on the CPUs that have it (an AMX CPU also runs AVX512_BF16 and AVX-512F code).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KernelPath {
    /// Plain Rust, compiled for the baseline x86-64 (or any other architecture).
    Portable,
    /// The same code compiled for AVX2+FMA.
    Avx2,
    /// The same code compiled for AVX-512F/BW/VL.
    Avx512,
    /// AVX-512 plus `vdpbf16ps` for the bf16 dense layers.
    Avx512Bf16,
    /// AVX512_BF16 plus AMX-BF16 tiles (`tdpbf16ps`) for the bf16 dense layers.
    Amx,
}

/// Every path, in order.
pub const ALL_PATHS: [KernelPath; 5] = [
    KernelPath::Portable,
    KernelPath::Avx2,
    KernelPath::Avx512,
    KernelPath::Avx512Bf16,
    KernelPath::Amx,
];

impl KernelPath {
    /// The name `SIMDEX_KERNEL` takes and reports print.
    pub fn name(self) -> &'static str {
        match self {
            KernelPath::Portable => "portable",
            KernelPath::Avx2 => "avx2",
            KernelPath::Avx512 => "avx512",
            KernelPath::Avx512Bf16 => "avx512bf16",
            KernelPath::Amx => "amx",
        }
    }

    /// The path of a name (see [`Self::name`]).
    pub fn parse(s: &str) -> Option<KernelPath> {
        ALL_PATHS
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s.trim()))
    }

    /// Whether this CPU (and, for AMX, the operating system) can run the path.
    pub fn supported(self) -> bool {
        match self {
            KernelPath::Portable => true,
            KernelPath::Avx2 => cpu::avx2_fma(),
            KernelPath::Avx512 => cpu::avx512(),
            KernelPath::Avx512Bf16 => cpu::avx512() && cpu::avx512_bf16(),
            KernelPath::Amx => cpu::avx512() && cpu::avx512_bf16() && amx::available(),
        }
    }

    /// The paths this machine can run, most portable first.
    pub fn available() -> Vec<KernelPath> {
        ALL_PATHS.into_iter().filter(|p| p.supported()).collect()
    }

    /// The fastest path this machine can run.
    pub fn best() -> KernelPath {
        Self::available()
            .last()
            .copied()
            .unwrap_or(KernelPath::Portable)
    }

    /// `Ok(self)` when the machine runs this path.
    pub fn check(self) -> Result<KernelPath, KernelError> {
        if self.supported() {
            Ok(self)
        } else {
            Err(KernelError::Unsupported {
                var: KERNEL_ENV,
                value: self.name(),
                available: Self::available()
                    .iter()
                    .map(|p| p.name())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
        }
    }

    /// Whether the path multiplies bf16 natively (and `auto` precision takes bf16 on it).
    pub fn native_bf16(self) -> bool {
        matches!(self, KernelPath::Avx512Bf16 | KernelPath::Amx)
    }

    /// The instruction set that the f32 kernels (attention, GELU, LayerNorm) are compiled
    /// for on this path.
    pub fn vector_isa(self) -> VectorIsa {
        match self {
            KernelPath::Portable => VectorIsa::Baseline,
            KernelPath::Avx2 => VectorIsa::Avx2Fma,
            _ => VectorIsa::Avx512,
        }
    }
}

impl std::fmt::Display for KernelPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The instruction sets one body of plain Rust is compiled for (see [`multiversion`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorIsa {
    Baseline,
    Avx2Fma,
    Avx512,
}

/// Numeric precision of the dense layers.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// bf16 where the CPU multiplies bf16 natively (AVX512_BF16 or AMX), f32 elsewhere.
    #[default]
    Auto,
    /// f32 weights and products throughout.
    F32,
    /// Dense-layer weights and inputs rounded to bf16 once, products accumulated in f32;
    /// attention, LayerNorm, GELU, softmax and pooling in f32. Runs on every CPU; fast only
    /// on the native-bf16 paths.
    Bf16,
}

impl Precision {
    /// The precision actually run on `path`: `auto` resolved, the others as they are.
    pub fn resolve(self, path: KernelPath) -> Precision {
        match self {
            Precision::Auto if path.native_bf16() => Precision::Bf16,
            Precision::Auto => Precision::F32,
            p => p,
        }
    }

    /// The name the CLI takes and reports print.
    pub fn name(self) -> &'static str {
        match self {
            Precision::Auto => "auto",
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
        }
    }

    /// Whether this is f32 (what indexes and caches made before precisions existed hold).
    pub fn is_f32(&self) -> bool {
        *self == Precision::F32
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Defines `pub fn $name(isa: VectorIsa, ...)` that runs `$body` compiled for the given
/// instruction set. The body is the same code: LLVM vectorises it for each target. Callers
/// pass the [`KernelPath::vector_isa`] of a path that [`KernelPath::supported`] confirmed.
#[macro_export]
#[doc(hidden)]
macro_rules! multiversion {
    ($(#[$m:meta])* pub fn $name:ident($($arg:ident : $ty:ty),*) $(-> $ret:ty)? $body:block) => {
        $(#[$m])*
        pub fn $name(isa: $crate::model::kernels::VectorIsa, $($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn generic($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2($($arg: $ty),*) $(-> $ret)? {
                generic($($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")]
            unsafe fn avx512($($arg: $ty),*) $(-> $ret)? {
                generic($($arg),*)
            }
            #[cfg(target_arch = "x86_64")]
            match isa {
                // SAFETY: callers pass the ISA of a path the CPU supports (checked once at
                // load: `KernelPath::check`).
                $crate::model::kernels::VectorIsa::Avx2Fma => return unsafe { avx2($($arg),*) },
                $crate::model::kernels::VectorIsa::Avx512 => return unsafe { avx512($($arg),*) },
                $crate::model::kernels::VectorIsa::Baseline => {}
            }
            #[cfg(not(target_arch = "x86_64"))]
            let _ = isa;
            generic($($arg),*)
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_best_is_supported() {
        for p in ALL_PATHS {
            assert_eq!(KernelPath::parse(p.name()), Some(p));
        }
        assert_eq!(KernelPath::parse("AMX"), Some(KernelPath::Amx));
        assert_eq!(KernelPath::parse("sse"), None);
        assert!(KernelPath::best().supported());
        assert!(KernelPath::Portable.check().is_ok());
        // Each path implies the ones before it.
        let avail = KernelPath::available();
        for (i, p) in avail.iter().enumerate() {
            assert_eq!(*p, ALL_PATHS[i]);
        }
    }

    #[test]
    fn auto_takes_bf16_only_on_native_bf16_paths() {
        assert_eq!(Precision::Auto.resolve(KernelPath::Amx), Precision::Bf16);
        assert_eq!(
            Precision::Auto.resolve(KernelPath::Avx512Bf16),
            Precision::Bf16
        );
        assert_eq!(Precision::Auto.resolve(KernelPath::Avx512), Precision::F32);
        assert_eq!(
            Precision::Auto.resolve(KernelPath::Portable),
            Precision::F32
        );
        assert_eq!(
            Precision::Bf16.resolve(KernelPath::Portable),
            Precision::Bf16
        );
        assert_eq!(Precision::F32.resolve(KernelPath::Amx), Precision::F32);
    }
}
