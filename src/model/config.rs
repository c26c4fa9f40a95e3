//! How the encoder runs on this machine: the kernel path, the precision of the dense layers
//! and the number of batch workers, resolved once at the edge of a process (the CLI, the
//! Python module, a Ray task) from its flags and the environment, then handed whole to
//! [`super::Embedder::load`].
//!
//! This is the only place that reads `SIMDEX_KERNEL` and `SIMDEX_WORKERS`; the model and the
//! kernels take what they are given and read no environment.

use super::batch::WORKERS_ENV;
use super::error::ModelError;
use super::kernels::{KernelError, KernelPath, Precision, KERNEL_ENV};

/// The encoder's run configuration, every choice made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncoderConfig {
    /// The CPU forward pass's kernel path (one this machine runs).
    pub kernel: KernelPath,
    /// The dense layers' precision on that path: `F32` or `Bf16`, never `Auto`.
    pub precision: Precision,
    /// Batches run at once (`None`: one per thread of the global pool on the CPU, one on a
    /// GPU; see [`super::batch::Threading`]).
    pub workers: Option<usize>,
}

impl EncoderConfig {
    /// `kernel` (`None`: the best path this CPU has) with `precision` resolved on it.
    pub fn new(
        kernel: Option<KernelPath>,
        precision: Precision,
        workers: Option<usize>,
    ) -> Result<EncoderConfig, KernelError> {
        let kernel = match kernel {
            Some(k) => k.check()?,
            None => KernelPath::best(),
        };
        Ok(EncoderConfig {
            kernel,
            precision: precision.resolve(kernel),
            workers,
        })
    }

    /// The configuration the environment asks for: the path `SIMDEX_KERNEL` forces (one the
    /// machine cannot run is an error, never a silent fallback), else the best; the workers
    /// `SIMDEX_WORKERS` sets, else the default; `precision` resolved on that path.
    pub fn from_env(precision: Precision) -> Result<EncoderConfig, ModelError> {
        let kernel = match std::env::var(KERNEL_ENV) {
            Ok(v) if !v.trim().is_empty() => {
                Some(KernelPath::parse(&v).ok_or_else(|| KernelError::Unknown {
                    var: KERNEL_ENV,
                    value: v.clone(),
                })?)
            }
            _ => None,
        };
        let workers = std::env::var(WORKERS_ENV)
            .ok()
            .and_then(|s| s.trim().parse().ok());
        Ok(EncoderConfig::new(kernel, precision, workers)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_precision_is_resolved_on_the_chosen_path() {
        let c = EncoderConfig::new(Some(KernelPath::Portable), Precision::Auto, None).unwrap();
        assert_eq!(
            c.precision,
            Precision::F32,
            "portable code has no native bf16"
        );
        let c = EncoderConfig::new(Some(KernelPath::Portable), Precision::Bf16, Some(1)).unwrap();
        assert_eq!((c.precision, c.workers), (Precision::Bf16, Some(1)));
        let best = EncoderConfig::new(None, Precision::Auto, None).unwrap();
        assert_eq!(best.kernel, KernelPath::best());
        assert_eq!(best.precision, Precision::Auto.resolve(KernelPath::best()));
    }
}
