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

/// An output folder being built beside its target (`.NAME.partial-PID` in the same parent),
/// invisible under its name until [`StagedDir::commit`] swaps it in with one atomic rename:
/// a run that fails, panics or is killed leaves the previous folder as it was (and at worst
/// a `.NAME.partial-*` folder beside it, removed by the next run), never a folder that looks
/// finished but is not. Dropped without commit, it removes what it wrote.
pub struct StagedDir {
    tmp: PathBuf,
    dst: PathBuf,
    committed: bool,
}

impl StagedDir {
    /// Starts building `dst`: removes stale partial folders of earlier killed runs (their
    /// process is gone) and creates an empty one for this run.
    pub fn create(dst: &Path) -> std::io::Result<StagedDir> {
        let name = dst
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "out".into());
        let parent = dst
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent)?;
        let stem = format!(".{name}.partial-");
        if let Ok(entries) = std::fs::read_dir(parent) {
            for e in entries.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                let Some(pid) = n.strip_prefix(&stem).and_then(|p| p.parse::<u32>().ok()) else {
                    continue;
                };
                if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let tmp = parent.join(format!("{stem}{}", std::process::id()));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)?;
        }
        std::fs::create_dir(&tmp)?;
        Ok(StagedDir {
            tmp,
            dst: dst.to_path_buf(),
            committed: false,
        })
    }

    /// The folder to write into.
    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// Fsyncs the built folder and puts it in place of the target in one atomic step
    /// (`renameat2(RENAME_EXCHANGE)` when the target exists, then the old folder is
    /// removed; a plain rename when it does not).
    pub fn commit(mut self) -> std::io::Result<()> {
        for e in std::fs::read_dir(&self.tmp)?.flatten() {
            if e.file_type().is_ok_and(|t| t.is_file()) {
                File::open(e.path())?.sync_all()?;
            }
        }
        sync_dir(&self.tmp)?;
        if self.dst.exists() {
            if !self.dst.is_dir() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "exists and is not a folder",
                ));
            }
            exchange(&self.tmp, &self.dst)?;
            // self.tmp now holds the previous output.
            std::fs::remove_dir_all(&self.tmp)?;
        } else {
            std::fs::rename(&self.tmp, &self.dst)?;
        }
        self.committed = true;
        sync_dir(
            self.dst
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new(".")),
        )
    }
}

impl Drop for StagedDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}

/// Swaps two paths atomically (Linux `renameat2` with `RENAME_EXCHANGE`).
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let ca = std::ffi::CString::new(a.as_os_str().as_bytes())?;
    let cb = std::ffi::CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: both are valid NUL-terminated paths; renameat2 reads them only.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
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

    #[test]
    fn a_staged_folder_replaces_the_old_one_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let dst = dir.path().join("out");
        std::fs::create_dir(&dst).unwrap();
        std::fs::write(dst.join("a"), b"old").unwrap();
        std::fs::write(dst.join("stale"), b"old").unwrap();
        {
            let s = StagedDir::create(&dst).unwrap();
            std::fs::write(s.path().join("a"), b"half").unwrap();
            // dropped without commit: a failed run
        }
        assert_eq!(std::fs::read(dst.join("a")).unwrap(), b"old");
        let s = StagedDir::create(&dst).unwrap();
        std::fs::write(s.path().join("a"), b"new").unwrap();
        s.commit().unwrap();
        assert_eq!(std::fs::read(dst.join("a")).unwrap(), b"new");
        assert!(!dst.join("stale").exists());
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no partial or old folder left");
    }
}
