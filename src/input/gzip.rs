//! Gzip-compressed inputs (`.jsonl.gz` and the like), opened the same way everywhere in the
//! crate: by the file name's last extension, with every concatenated gzip member read.
//!
//! It only opens files: parsing records is the reader's job.

use std::io::Read;
use std::path::Path;

/// Whether the file name ends in `.gz`.
pub fn is_gz(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "gz")
}

/// The extension that says what the content is: `jsonl` for `a.jsonl` and for `a.jsonl.gz`.
pub fn content_extension(path: &Path) -> Option<&str> {
    if is_gz(path) {
        Path::new(path.file_stem()?).extension()?.to_str()
    } else {
        path.extension()?.to_str()
    }
}

/// Opens a file for reading, decompressing it when its name ends in `.gz`.
pub fn open(path: &Path) -> std::io::Result<Box<dyn Read>> {
    let f = std::fs::File::open(path)?;
    Ok(if is_gz(path) {
        Box::new(flate2::read::MultiGzDecoder::new(f))
    } else {
        Box::new(f)
    })
}

/// Reads a whole file, decompressed when its name ends in `.gz`.
pub fn read(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    open(path)?.read_to_end(&mut buf)?;
    Ok(buf)
}
