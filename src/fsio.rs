//! The one atomic write every writer in the crate uses (dedup outputs, the index manifest,
//! model import, the evaluation cache): write a temp file beside the target, fsync it,
//! rename it over the target, fsync the folder. A crash leaves the old file or the new one,
//! never half of one.
//!
//! It only writes bytes it is given; it knows nothing about formats. (The embedding cache is
//! an append-only log with its own framing, not a whole-file rewrite, so it does not use it.)

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// A file being written: invisible under its name until [`AtomicFile::commit`].
pub struct AtomicFile {
    tmp: PathBuf,
    dst: PathBuf,
    w: BufWriter<File>,
}

impl AtomicFile {
    /// Starts writing `dst`, through `.{name}.tmp` beside it.
    pub fn create(dst: &Path) -> std::io::Result<AtomicFile> {
        let name = dst
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        AtomicFile::create_via(&dst.with_file_name(format!(".{name}.tmp")), dst)
    }

    /// Starts writing `dst` through the given temp path (in the same folder).
    pub fn create_via(tmp: &Path, dst: &Path) -> std::io::Result<AtomicFile> {
        Ok(AtomicFile {
            w: BufWriter::new(File::create(tmp)?),
            tmp: tmp.to_path_buf(),
            dst: dst.to_path_buf(),
        })
    }

    /// The temp file's path (for error messages).
    pub fn temp_path(&self) -> &Path {
        &self.tmp
    }

    /// Flushes, fsyncs, renames over the target and fsyncs its folder.
    pub fn commit(self) -> std::io::Result<()> {
        let f = self.w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        drop(f);
        rename_durably(&self.tmp, &self.dst)
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.w.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.w.flush()
    }
}

/// Writes `bytes` to `dst` atomically.
pub fn write_atomically(dst: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = AtomicFile::create(dst)?;
    f.write_all(bytes)?;
    f.commit()
}

/// For a temp file written by someone else (e.g. a library's `save`): fsyncs it, renames it
/// over `dst` and fsyncs the folder.
pub fn rename_durably(tmp: &Path, dst: &Path) -> std::io::Result<()> {
    File::open(tmp)?.sync_all()?;
    std::fs::rename(tmp, dst)?;
    sync_dir(
        dst.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new(".")),
    )
}

/// Fsyncs a folder, so that a rename in it survives a crash.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_visible_until_commit_and_then_all_of_it() {
        let dir = tempfile::tempdir().unwrap();
        let dst = dir.path().join("out.jsonl");
        std::fs::write(&dst, b"old\n").unwrap();
        let mut f = AtomicFile::create(&dst).unwrap();
        f.write_all(b"new\n").unwrap();
        assert_eq!(std::fs::read(&dst).unwrap(), b"old\n");
        f.commit().unwrap();
        assert_eq!(std::fs::read(&dst).unwrap(), b"new\n");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temp file left");
    }
}
