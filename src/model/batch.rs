//! Batching of token sequences for the encoder: length-sorted, bounded by a token budget
//! (padded tokens per batch), as text-embeddings-inference's queue does.
//!
//! It only plans which sequences go together; it never touches the model.

/// How sequences are grouped into encoder calls.
#[derive(Debug, Clone, Copy)]
pub struct BatchPolicy {
    /// Most padded tokens (batch size × longest sequence) in one encoder call.
    pub max_tokens_per_batch: usize,
    /// Most sequences in one encoder call.
    pub max_sequences_per_batch: usize,
}

/// Default padded-token budget of one encoder call. 1,024 keeps a batch's activations (the
/// Q/K/V product is 4.5 MB) near the L2 caches; measured on the Intel AMX machine,
/// alternating, 2 threads: fixed 128-token texts bf16 14,062-14,175 tokens/s at 4,096 →
/// 16,154-16,581 at 1,024, Sina bf16 11,239-11,587 → 11,643-11,884, f32 +8-10 % on both.
pub const DEFAULT_TOKENS_PER_BATCH: usize = 1024;
/// Default cap on sequences in one call.
pub const DEFAULT_SEQUENCES_PER_BATCH: usize = 128;

/// How the encoder uses the CPU: `workers` batches run at once, each on its own rayon pool
/// of `threads_per_worker` threads. One worker with every core is one shared pool; as many
/// workers as cores, one thread each, avoids the per-op fork-join of a shared pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Threading {
    pub workers: usize,
    pub threads_per_worker: usize,
}

/// Environment variable that sets [`Threading::workers`] (read by [`super::config`]) (threads per worker follow from
/// the global rayon pool, i.e. `RAYON_NUM_THREADS`, divided among the workers).
pub const WORKERS_ENV: &str = "SIMDEX_WORKERS";
/// Default number of concurrent batch workers, 0 meaning one per thread of the global
/// rayon pool (one thread each). On the 2-core bench machine two workers of one thread beat
/// one pool of two threads (median 557 against 519 tokens/s on Sina news, 3 runs each).
pub const DEFAULT_WORKERS: usize = 0;

impl Threading {
    /// `workers` workers sharing the global rayon pool's threads (0: one per thread).
    pub fn with_workers(workers: usize) -> Threading {
        let threads = rayon::current_num_threads();
        let workers = if workers == 0 { threads } else { workers };
        Threading {
            workers,
            threads_per_worker: (threads / workers).max(1),
        }
    }

    /// `workers` batch workers ([`DEFAULT_WORKERS`] when `None`) on the CPU; one worker on
    /// a GPU (`on_cpu` false) unless set: there is one device, and batches on it run one at
    /// a time.
    pub fn for_device(workers: Option<usize>, on_cpu: bool) -> Threading {
        let default = if on_cpu { DEFAULT_WORKERS } else { 1 };
        Threading::with_workers(workers.unwrap_or(default))
    }
}

impl Default for BatchPolicy {
    fn default() -> Self {
        BatchPolicy {
            max_tokens_per_batch: DEFAULT_TOKENS_PER_BATCH,
            max_sequences_per_batch: DEFAULT_SEQUENCES_PER_BATCH,
        }
    }
}

impl BatchPolicy {
    /// Groups sequence indices into batches: longest first, each batch's padded size within
    /// the budget (a single sequence longer than the budget gets a batch of its own).
    /// Ties in length keep input order, so the plan is deterministic.
    pub fn plan(&self, lengths: impl Iterator<Item = usize>) -> Vec<Vec<usize>> {
        let mut order: Vec<(usize, usize)> = lengths.enumerate().collect();
        order.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut batches = Vec::new();
        let mut cur: Vec<usize> = Vec::new();
        let mut cur_max = 0;
        for (i, len) in order {
            let max = cur_max.max(len);
            let fits = (cur.len() + 1) * max <= self.max_tokens_per_batch
                && cur.len() < self.max_sequences_per_batch;
            if !cur.is_empty() && !fits {
                batches.push(std::mem::take(&mut cur));
                cur_max = 0;
            }
            cur_max = cur_max.max(len);
            cur.push(i);
        }
        if !cur.is_empty() {
            batches.push(cur);
        }
        batches
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_respect_budget_and_cover_every_sequence() {
        let p = BatchPolicy {
            max_tokens_per_batch: 100,
            max_sequences_per_batch: 8,
        };
        let lens = [10, 50, 3, 200, 50, 7, 7, 7];
        let plan = p.plan(lens.iter().copied());
        let mut seen: Vec<usize> = plan.iter().flatten().copied().collect();
        seen.sort();
        assert_eq!(seen, (0..lens.len()).collect::<Vec<_>>());
        for b in &plan {
            let max = b.iter().map(|&i| lens[i]).max().unwrap();
            assert!(b.len() == 1 || b.len() * max <= 100, "{b:?}");
        }
        assert_eq!(plan[0], vec![3]); // the over-long one alone, first
    }
}
