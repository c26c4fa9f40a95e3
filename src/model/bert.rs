//! A BERT encoder for inference on candle, written for speed on CPU: fused Q/K/V projection,
//! the attention scale folded into the query weights, last-dim softmax, no mask arithmetic
//! when a batch has no padding, weights pre-transposed once at load, and word embeddings
//! read row by row from the memory-mapped weights file (no 384 MB copy at start-up).
//!
//! It takes token ids and returns mean-pooled, L2-normalised vectors. It knows nothing of
//! text, prefixes or batching policy.

use std::fs::File;
use std::path::{Path, PathBuf};

use candle_core::{CpuStorage, DType, Device, InplaceOp1, Layout, Storage, Tensor, D};
use candle_nn::ops::{layer_norm, softmax_last_dim};
use memmap2::Mmap;
use sha2::{Digest, Sha256};

use super::cpu_ops::{self, AttentionShape};
use super::error::ModelError;
use super::kernels::{self, AlignedBuf, KernelPath, PackedBf16, Precision};

/// The subset of a Hugging Face `config.json` that a BERT encoder needs.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct BertConfig {
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "default_act")]
    pub hidden_act: String,
}

fn default_eps() -> f64 {
    1e-12
}
fn default_act() -> String {
    "gelu".into()
}

/// Bytes of the weights file hashed (at each end) for the weights digest.
const DIGEST_SPAN: usize = 1 << 20;
/// Additive attention bias of padded positions (PyTorch uses the dtype's minimum).
const MASKED: f32 = f32::MIN;

struct Layer {
    qkv_w: Tensor,
    qkv_b: Tensor,
    ao_w: Tensor,
    ao_b: Tensor,
    aln_w: Tensor,
    aln_b: Tensor,
    fi_w: Tensor,
    fi_b: Tensor,
    fo_w: Tensor,
    fo_b: Tensor,
    oln_w: Tensor,
    oln_b: Tensor,
    /// The small parameters again as plain vectors, for the CPU kernels.
    cpu: LayerVectors,
}

/// Biases and layer-norm parameters of one layer, read once at load.
struct LayerVectors {
    qkv_b: Vec<f32>,
    ao_b: Vec<f32>,
    aln_w: Vec<f32>,
    aln_b: Vec<f32>,
    fi_b: Vec<f32>,
    fo_b: Vec<f32>,
    oln_w: Vec<f32>,
    oln_b: Vec<f32>,
}

impl LayerVectors {
    fn of(l: &Layer) -> candle_core::Result<LayerVectors> {
        let v = |t: &Tensor| t.to_dtype(DType::F32)?.to_vec1::<f32>();
        Ok(LayerVectors {
            qkv_b: v(&l.qkv_b)?,
            ao_b: v(&l.ao_b)?,
            aln_w: v(&l.aln_w)?,
            aln_b: v(&l.aln_b)?,
            fi_b: v(&l.fi_b)?,
            fo_b: v(&l.fo_b)?,
            oln_w: v(&l.oln_w)?,
            oln_b: v(&l.oln_b)?,
        })
    }
}

/// An in-place map over the f32 values of a contiguous CPU tensor.
struct MapInPlace<'a>(&'a (dyn Fn(&mut [f32]) + Sync));

impl InplaceOp1 for MapInPlace<'_> {
    fn name(&self) -> &'static str {
        "simdex-map-in-place"
    }
    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> candle_core::Result<()> {
        let (a, b) = layout
            .contiguous_offsets()
            .ok_or_else(|| candle_core::Error::Msg("map in place: not contiguous".into()))?;
        match storage {
            CpuStorage::F32(v) => {
                (self.0)(&mut v[a..b]);
                Ok(())
            }
            _ => Err(candle_core::Error::Msg("map in place: not f32".into())),
        }
    }
}

/// Runs `f` on the f32 values of a contiguous CPU tensor.
fn with_values<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> candle_core::Result<R> {
    let (storage, layout) = t.storage_and_layout();
    let (a, b) = layout
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg("not contiguous".into()))?;
    match &*storage {
        Storage::Cpu(c) => Ok(f(&c.as_slice::<f32>()?[a..b])),
        _ => Err(candle_core::Error::Msg("not a CPU tensor".into())),
    }
}

/// Word embedding rows read straight from the mapped `model.safetensors`.
struct WordTable {
    map: Mmap,
    start: usize,
    rows: usize,
    hidden: usize,
}

impl WordTable {
    fn gather(&self, ids: &[u32], out: &mut Vec<f32>) {
        let row_bytes = self.hidden * 4;
        for &id in ids {
            // Out-of-range ids cannot come from the tokenizer; map them to row 0 defensively.
            let id = if (id as usize) < self.rows {
                id as usize
            } else {
                0
            };
            let off = self.start + id * row_bytes;
            let bytes = &self.map[off..off + row_bytes];
            out.extend(
                bytes
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            );
        }
    }
}

/// The dense-layer weights of one layer in bf16, packed for [`kernels::gemm_bf16`].
struct PackedLayer {
    qkv: PackedBf16,
    ao: PackedBf16,
    fi: PackedBf16,
    fo: PackedBf16,
}

impl PackedLayer {
    fn of(l: &Layer) -> candle_core::Result<PackedLayer> {
        let p = |t: &Tensor| -> candle_core::Result<PackedBf16> {
            let (k, n) = t.dims2()?;
            let v = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
            Ok(PackedBf16::pack(&v, k, n))
        };
        Ok(PackedLayer {
            qkv: p(&l.qkv_w)?,
            ao: p(&l.ao_w)?,
            fi: p(&l.fi_w)?,
            fo: p(&l.fo_w)?,
        })
    }
}

/// The encoder: weights on a device, ready to run batches of token ids.
pub struct BertEncoder {
    cfg: BertConfig,
    /// The kernels the CPU forward pass runs.
    kernel: KernelPath,
    /// The precision of the dense layers (never `Auto`).
    precision: Precision,
    /// The dense weights in bf16, made once when bf16 is first asked for.
    packed: Vec<PackedLayer>,
    device: Device,
    words: WordTable,
    pos: Tensor,
    type0: Tensor,
    emb_ln_w: Tensor,
    emb_ln_b: Tensor,
    /// Position rows plus the token-type-0 row, and the embedding layer norm, as vectors.
    pos_type0: Vec<f32>,
    emb_ln_w_vec: Vec<f32>,
    emb_ln_b_vec: Vec<f32>,
    layers: Vec<Layer>,
    digest: String,
    path: PathBuf,
}

/// Reads the JSON header of a safetensors file: (header length, header).
fn safetensors_header(path: &Path, map: &[u8]) -> Result<(usize, serde_json::Value), ModelError> {
    let bad = |msg: &str| ModelError::BadModelFile {
        path: path.to_path_buf(),
        msg: msg.to_string(),
    };
    if map.len() < 8 {
        return Err(bad("file too short for a safetensors header"));
    }
    let mut n = [0u8; 8];
    n.copy_from_slice(&map[..8]);
    let n = u64::from_le_bytes(n) as usize;
    if n > map.len() - 8 {
        return Err(bad("safetensors header longer than the file"));
    }
    let header: serde_json::Value =
        serde_json::from_slice(&map[8..8 + n]).map_err(|e| bad(&format!("header: {e}")))?;
    Ok((n, header))
}

impl BertEncoder {
    /// Loads `config.json` and `model.safetensors` from a model folder onto the CPU (or the
    /// first CUDA device when built with the `cuda` feature and one is present).
    pub fn load(dir: &Path, kernel: KernelPath) -> Result<BertEncoder, ModelError> {
        let device = pick_device();
        let cfg_path = dir.join("config.json");
        let cfg_text = std::fs::read_to_string(&cfg_path).map_err(|source| ModelError::Io {
            path: cfg_path.clone(),
            source,
        })?;
        let cfg: BertConfig =
            serde_json::from_str(&cfg_text).map_err(|e| ModelError::BadModelFile {
                path: cfg_path.clone(),
                msg: e.to_string(),
            })?;
        if !cfg.hidden_act.starts_with("gelu") {
            return Err(ModelError::BadModelFile {
                path: cfg_path,
                msg: format!("unsupported activation {}", cfg.hidden_act),
            });
        }
        let path = dir.join("model.safetensors");
        let file = File::open(&path).map_err(|source| ModelError::Io {
            path: path.clone(),
            source,
        })?;
        // SAFETY: the file is opened read-only; simdex never writes a model file in place
        // (imports write a temporary file and rename it).
        let map = unsafe { Mmap::map(&file) }.map_err(|source| ModelError::Io {
            path: path.clone(),
            source,
        })?;
        let (hlen, header) = safetensors_header(&path, &map)?;
        let mut h = Sha256::new();
        h.update((map.len() as u64).to_le_bytes());
        h.update(&map[..map.len().min(8 + hlen + DIGEST_SPAN)]);
        h.update(&map[map.len().saturating_sub(DIGEST_SPAN)..]);
        let digest: String = h
            .finalize()
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect();

        // SAFETY: as above, the mapped file is never modified while simdex runs.
        let tensors = unsafe { candle_core::safetensors::MmapedSafetensors::new(&path)? };
        let get = |name: &str| -> Result<Tensor, ModelError> {
            tensors
                .load(name, &device)
                .map_err(|e| ModelError::BadModelFile {
                    path: path.clone(),
                    msg: format!("{name}: {e}"),
                })
        };
        let word_name = "embeddings.word_embeddings.weight";
        let entry = header
            .get(word_name)
            .ok_or_else(|| ModelError::BadModelFile {
                path: path.clone(),
                msg: format!("no {word_name}"),
            })?;
        let offs = entry["data_offsets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let shape = entry["shape"].as_array().cloned().unwrap_or_default();
        let (start, end) = match (
            offs.first().and_then(|v| v.as_u64()),
            offs.get(1).and_then(|v| v.as_u64()),
        ) {
            (Some(s), Some(e)) => (8 + hlen + s as usize, 8 + hlen + e as usize),
            _ => {
                return Err(ModelError::BadModelFile {
                    path,
                    msg: "bad word embedding offsets".into(),
                })
            }
        };
        let rows = shape.first().and_then(|v| v.as_u64()).unwrap_or(0) as usize;
        if entry["dtype"] != "F32" || end > map.len() || (end - start) != rows * cfg.hidden_size * 4
        {
            return Err(ModelError::BadModelFile {
                path,
                msg: "word embeddings must be f32 [vocab, hidden]".into(),
            });
        }
        let hidden = cfg.hidden_size;
        let head_dim = hidden / cfg.num_attention_heads;
        let scale = 1.0 / (head_dim as f64).sqrt();
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let p = format!("encoder.layer.{i}.");
            let t = |n: &str| get(&format!("{p}{n}"));
            // Fused QKV, pre-transposed to [hidden, 3·hidden]; the query part carries 1/√d.
            let q_w = (t("attention.self.query.weight")? * scale)?;
            let q_b = (t("attention.self.query.bias")? * scale)?;
            let qkv_w = Tensor::cat(
                &[
                    q_w,
                    t("attention.self.key.weight")?,
                    t("attention.self.value.weight")?,
                ],
                0,
            )?
            .t()?
            .contiguous()?;
            let qkv_b = Tensor::cat(
                &[
                    q_b,
                    t("attention.self.key.bias")?,
                    t("attention.self.value.bias")?,
                ],
                0,
            )?;
            let mut layer = Layer {
                qkv_w,
                qkv_b,
                ao_w: t("attention.output.dense.weight")?.t()?.contiguous()?,
                ao_b: t("attention.output.dense.bias")?,
                aln_w: t("attention.output.LayerNorm.weight")?,
                aln_b: t("attention.output.LayerNorm.bias")?,
                fi_w: t("intermediate.dense.weight")?.t()?.contiguous()?,
                fi_b: t("intermediate.dense.bias")?,
                fo_w: t("output.dense.weight")?.t()?.contiguous()?,
                fo_b: t("output.dense.bias")?,
                oln_w: t("output.LayerNorm.weight")?,
                oln_b: t("output.LayerNorm.bias")?,
                cpu: LayerVectors {
                    qkv_b: Vec::new(),
                    ao_b: Vec::new(),
                    aln_w: Vec::new(),
                    aln_b: Vec::new(),
                    fi_b: Vec::new(),
                    fo_b: Vec::new(),
                    oln_w: Vec::new(),
                    oln_b: Vec::new(),
                },
            };
            layer.cpu = LayerVectors::of(&layer)?;
            layers.push(layer);
        }
        let type0 = get("embeddings.token_type_embeddings.weight")?.get(0)?;
        let pos = get("embeddings.position_embeddings.weight")?;
        let emb_ln_w = get("embeddings.LayerNorm.weight")?;
        let emb_ln_b = get("embeddings.LayerNorm.bias")?;
        let pos_type0 = pos
            .broadcast_add(&type0)?
            .to_dtype(DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        Ok(BertEncoder {
            kernel: kernel.check()?,
            precision: Precision::F32,
            packed: Vec::new(),
            emb_ln_w_vec: emb_ln_w.to_dtype(DType::F32)?.to_vec1()?,
            emb_ln_b_vec: emb_ln_b.to_dtype(DType::F32)?.to_vec1()?,
            pos_type0,
            pos,
            emb_ln_w,
            emb_ln_b,
            type0,
            layers,
            words: WordTable {
                map,
                start,
                rows,
                hidden,
            },
            cfg,
            device,
            digest,
            path,
        })
    }

    /// The kernel path of the CPU forward pass.
    pub fn kernel(&self) -> KernelPath {
        self.kernel
    }

    /// Runs the CPU forward pass on `path` (which the machine must support).
    pub fn set_kernel(&mut self, path: KernelPath) -> Result<(), ModelError> {
        self.kernel = path.check()?;
        Ok(())
    }

    /// The precision the dense layers run in: `F32` or `Bf16`, never `Auto`.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Sets the precision (`Auto` resolved on this encoder's kernel path); bf16 weights are
    /// packed the first time bf16 is asked for. A GPU encoder stays f32.
    pub fn set_precision(&mut self, precision: Precision) -> Result<Precision, ModelError> {
        let p = if self.device.is_cpu() {
            precision.resolve(self.kernel)
        } else {
            Precision::F32
        };
        if p == Precision::Bf16 && self.packed.is_empty() {
            self.packed = self
                .layers
                .iter()
                .map(PackedLayer::of)
                .collect::<candle_core::Result<_>>()?;
        }
        self.precision = p;
        Ok(p)
    }

    /// `x · w` on candle's matmul (f32), or in bf16 on this encoder's kernel when `packed`.
    fn dense(
        &self,
        x: &Tensor,
        w: &Tensor,
        packed: Option<&PackedBf16>,
    ) -> candle_core::Result<Tensor> {
        match packed {
            None => x.matmul(w),
            Some(p) => {
                let m = x.dims2()?.0;
                let out = with_values(x, |a| kernels::gemm_bf16(self.kernel, a, p))?;
                Tensor::from_vec(out, (m, p.n()), &self.device)
            }
        }
    }

    /// Whether the encoder runs on the CPU (not a GPU).
    pub fn is_cpu(&self) -> bool {
        self.device.is_cpu()
    }

    /// Vector width.
    pub fn hidden(&self) -> usize {
        self.cfg.hidden_size
    }

    /// Longest sequence the position embeddings allow.
    pub fn max_positions(&self) -> usize {
        self.cfg.max_position_embeddings
    }

    /// A digest of the weights file (header, length, first and last MiB).
    pub fn weights_digest(&self) -> &str {
        &self.digest
    }

    /// The weights file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs a batch of sequences (special tokens included, each at most
    /// [`Self::max_positions`] long) and returns one unit vector per sequence.
    pub fn embed_batch(&self, seqs: &[&[u32]]) -> Result<Vec<Vec<f32>>, ModelError> {
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        let b = seqs.len();
        let s = seqs.iter().map(|q| q.len()).max().unwrap_or(0).max(1);
        if s > self.max_positions() {
            return Err(ModelError::Candle(candle_core::Error::Msg(format!(
                "sequence of {s} tokens exceeds the model's {} positions",
                self.max_positions()
            ))));
        }
        if self.device.is_cpu() {
            return Ok(self.embed_packed(seqs)?);
        }
        let h = self.hidden();
        let padded = seqs.iter().any(|q| q.len() != s);
        let mut words = Vec::with_capacity(b * s * h);
        let pad_row = [0u32];
        for q in seqs {
            self.words.gather(q, &mut words);
            for _ in q.len()..s {
                self.words.gather(&pad_row, &mut words);
            }
        }
        let x = Tensor::from_vec(words, (b, s, h), &self.device)?;
        let x = x
            .broadcast_add(&self.pos.narrow(0, 0, s)?)?
            .broadcast_add(&self.type0)?;
        let eps = self.cfg.layer_norm_eps as f32;
        let mut x = layer_norm(&x, &self.emb_ln_w, &self.emb_ln_b, eps)?.reshape((b * s, h))?;

        let (mask, keep) = if padded {
            let mut bias = Vec::with_capacity(b * s);
            let mut keep = Vec::with_capacity(b * s);
            for q in seqs {
                for j in 0..s {
                    let real = j < q.len();
                    bias.push(if real { 0.0 } else { MASKED });
                    keep.push(if real { 1.0f32 } else { 0.0 });
                }
            }
            (
                Some(Tensor::from_vec(bias, (b, 1, 1, s), &self.device)?),
                Some(Tensor::from_vec(keep, (b, s, 1), &self.device)?),
            )
        } else {
            (None, None)
        };

        let heads = self.cfg.num_attention_heads;
        let dh = h / heads;
        for l in &self.layers {
            let qkv = x.matmul(&l.qkv_w)?.broadcast_add(&l.qkv_b)?;
            let qkv = qkv
                .reshape((b, s, 3, heads, dh))?
                .permute((2, 0, 3, 1, 4))?;
            let q = qkv.get(0)?.contiguous()?;
            let k = qkv.get(1)?.contiguous()?;
            let v = qkv.get(2)?.contiguous()?;
            let mut att = q.matmul(&k.t()?)?;
            if let Some(m) = &mask {
                att = att.broadcast_add(m)?;
            }
            let att = softmax_last_dim(&att)?;
            let ctx = att.matmul(&v)?.transpose(1, 2)?.reshape((b * s, h))?;
            let a = ctx.matmul(&l.ao_w)?.broadcast_add(&l.ao_b)?;
            let a = layer_norm(&(a + &x)?, &l.aln_w, &l.aln_b, eps)?;
            let f = a.matmul(&l.fi_w)?.broadcast_add(&l.fi_b)?.gelu_erf()?;
            let f = f.matmul(&l.fo_w)?.broadcast_add(&l.fo_b)?;
            x = layer_norm(&(f + &a)?, &l.oln_w, &l.oln_b, eps)?;
        }
        let x = x.reshape((b, s, h))?;
        let pooled = match &keep {
            Some(k) => x.broadcast_mul(k)?.sum(1)?.broadcast_div(&k.sum(1)?)?,
            None => x.mean(1)?,
        };
        let norm = pooled.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?;
        let pooled = pooled.broadcast_div(&norm)?.to_dtype(DType::F32)?;
        Ok(pooled.to_device(&Device::Cpu)?.to_vec2::<f32>()?)
    }
}

impl BertEncoder {
    /// The CPU forward pass: sequences packed end to end with no padding, the dense layers
    /// on candle's matmul, everything else in [`cpu_ops`] kernels with biases fused.
    fn embed_packed(&self, seqs: &[&[u32]]) -> candle_core::Result<Vec<Vec<f32>>> {
        let h = self.hidden();
        let mut spans = Vec::with_capacity(seqs.len());
        let mut tokens = 0;
        for q in seqs {
            // An empty sequence still gets one (padding) row so that its mean is defined.
            let len = q.len().max(1);
            spans.push((tokens, len));
            tokens += len;
        }
        let mut words = Vec::with_capacity(tokens * h);
        for q in seqs {
            if q.is_empty() {
                self.words.gather(&[0], &mut words);
            }
            self.words.gather(q, &mut words);
        }
        for &(start, len) in &spans {
            let rows = &mut words[start * h..(start + len) * h];
            rows.iter_mut()
                .zip(&self.pos_type0[..len * h])
                .for_each(|(w, p)| *w += p);
        }
        let eps = self.cfg.layer_norm_eps as f32;
        cpu_ops::par_residual_layer_norm(
            self.kernel.vector_isa(),
            &mut words,
            &[],
            &[],
            &self.emb_ln_w_vec,
            &self.emb_ln_b_vec,
            eps,
        );
        let shape = AttentionShape {
            hidden: h,
            heads: self.cfg.num_attention_heads,
        };
        if self.precision == Precision::Bf16 {
            let x = self.layers_bf16(words, &spans, shape);
            return Ok(pool(&x, &spans, h));
        }
        let mut x = Tensor::from_vec(words, (tokens, h), &self.device)?;
        let isa = self.kernel.vector_isa();
        for l in &self.layers {
            let v = &l.cpu;
            let qkv = self.dense(&x, &l.qkv_w, None)?;
            let ctx = with_values(&qkv, |qkv| {
                cpu_ops::attention(isa, qkv, &v.qkv_b, &spans, shape)
            })?;
            drop(qkv);
            let ctx = Tensor::from_vec(ctx, (tokens, h), &self.device)?;
            let a = self.dense(&ctx, &l.ao_w, None)?;
            with_values(&x, |res| {
                a.inplace_op1(&MapInPlace(&|y| {
                    cpu_ops::par_residual_layer_norm(isa, y, &v.ao_b, res, &v.aln_w, &v.aln_b, eps)
                }))
            })??;
            let f = self.dense(&a, &l.fi_w, None)?;
            f.inplace_op1(&MapInPlace(&|y| cpu_ops::par_bias_gelu(isa, y, &v.fi_b)))?;
            let o = self.dense(&f, &l.fo_w, None)?;
            drop(f);
            with_values(&a, |res| {
                o.inplace_op1(&MapInPlace(&|y| {
                    cpu_ops::par_residual_layer_norm(isa, y, &v.fo_b, res, &v.oln_w, &v.oln_b, eps)
                }))
            })??;
            x = o;
        }
        with_values(&x, |x| pool(x, &spans, h))
    }

    /// The encoder layers with bf16 dense layers, on 64-byte aligned buffers allocated once
    /// per batch and reused by every layer: each product's bf16 input is written by the
    /// kernel that produces it (LayerNorm, GELU, the tile attention) where it can be, so
    /// there is no separate rounding pass, no per-product allocation and no zeroing of
    /// outputs. `x` is the embedding output, `[tokens, hidden]`; returns the last layer's
    /// output.
    fn layers_bf16(
        &self,
        x: Vec<f32>,
        spans: &[(usize, usize)],
        shape: AttentionShape,
    ) -> AlignedBuf<f32> {
        let h = shape.hidden;
        let tokens = x.len() / h;
        let eps = self.cfg.layer_norm_eps as f32;
        let isa = self.kernel.vector_isa();
        let path = self.kernel;
        // The tile attention takes heads up to one tile row wide (e5-small's are 32).
        let tiles = path == KernelPath::Amx && h / shape.heads <= kernels::amx::ATTENTION_HEAD;
        let m_pad = tokens.next_multiple_of(kernels::bf16::ROW_BLOCK);
        // 64-byte aligned, as the kernels need to run at full rate.
        let mut x = AlignedBuf::from_slice(&x);
        let (mut xb, mut cb, mut ab, mut fb) = (
            AlignedBuf::new(),
            AlignedBuf::new(),
            AlignedBuf::new(),
            AlignedBuf::new(),
        );
        let (mut qkv, mut a, mut o) = (AlignedBuf::new(), AlignedBuf::new(), AlignedBuf::new());
        // On AMX the Q/K/V product's bf16 output (`qb`) feeds the tile attention, which
        // writes the next product's input itself; elsewhere the f32 product and context.
        let mut qb = AlignedBuf::new();
        let mut ctx = if tiles {
            Vec::new()
        } else {
            vec![0f32; tokens * h]
        };
        if let Some(p) = self.packed.first() {
            kernels::bf16::round_input(path, &x, &p.qkv, &mut xb);
        }
        for (i, l) in self.layers.iter().enumerate() {
            let v = &l.cpu;
            let p = &self.packed[i];
            if tiles {
                // Q/K/V with biases in bf16 straight from the product's epilogue, and the
                // context in bf16 straight from the tile attention: no f32 in between.
                let n3 = p.qkv.n();
                qb.resize(tokens * n3, 0);
                kernels::bf16::gemm_bf16_epilogue(
                    path,
                    &xb,
                    tokens,
                    &p.qkv,
                    &mut qb,
                    n3,
                    |c, d| cpu_ops::bias_bf16_rows(isa, c, &v.qkv_b, d, n3),
                );
                let stride = p.ao.k_pad();
                cb.resize(m_pad * stride, 0);
                cpu_ops::tile_attention_bf16(&qb, spans, shape, &mut cb, stride);
            } else {
                kernels::bf16::gemm_bf16_into(path, &xb, tokens, &p.qkv, &mut qkv);
                cpu_ops::attention_into(isa, &qkv, &v.qkv_b, spans, shape, &mut ctx);
                kernels::bf16::round_input(path, &ctx, &p.ao, &mut cb);
            }
            kernels::bf16::gemm_bf16_into(path, &cb, tokens, &p.ao, &mut a);
            let stride = p.fi.k_pad();
            ab.resize(m_pad * stride, 0);
            cpu_ops::par_residual_layer_norm_bf16(
                isa, &mut a, &v.ao_b, &x, &v.aln_w, &v.aln_b, eps, &mut ab, stride,
            );
            // GELU (bias fused) on each band of the intermediate product while it is in L2,
            // written straight as the bf16 input of the output product.
            let stride = p.fo.k_pad();
            fb.resize(m_pad * stride, 0);
            kernels::bf16::gemm_bf16_epilogue(path, &ab, tokens, &p.fi, &mut fb, stride, |c, d| {
                cpu_ops::bias_gelu_bf16_rows(isa, c, &v.fi_b, d, stride)
            });
            kernels::bf16::gemm_bf16_into(path, &fb, tokens, &p.fo, &mut o);
            // The next layer's QKV input (the same width as this one's).
            let stride = p.qkv.k_pad();
            xb.resize(m_pad * stride, 0);
            cpu_ops::par_residual_layer_norm_bf16(
                isa, &mut o, &v.fo_b, &a, &v.oln_w, &v.oln_b, eps, &mut xb, stride,
            );
            std::mem::swap(&mut x, &mut o);
        }
        x
    }
}

/// Mean of each span's rows of `x` (`[tokens, h]`), L2-normalised.
fn pool(x: &[f32], spans: &[(usize, usize)], h: usize) -> Vec<Vec<f32>> {
    spans
        .iter()
        .map(|&(start, len)| {
            let mut v = vec![0f32; h];
            for row in x[start * h..(start + len) * h].chunks_exact(h) {
                v.iter_mut().zip(row).for_each(|(a, b)| *a += b);
            }
            super::unit_vectors::normalize(&mut v);
            v
        })
        .collect()
}

/// The device embeddings run on: the first CUDA GPU when the `cuda` feature is on and one
/// is present, else the CPU.
fn pick_device() -> Device {
    #[cfg(feature = "cuda")]
    if let Ok(d) = Device::new_cuda(0) {
        return d;
    }
    Device::Cpu
}
