//! Writing a file so that a crash or an error never leaves it half written.

use crate::error::{Error, Result};
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Writes `path` through `write`: into a temporary file beside it, flushed
/// to disk (`fsync`), then renamed over `path` (atomic on POSIX file
/// systems) and the directory synced. If `write` fails, or anything after
/// it, the temporary file is removed and `path` keeps its previous
/// contents.
pub fn write_atomically(path: &Path, write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<()> {
    let temporary = temporary_path(path);
    let result = (|| {
        let file = File::create(&temporary)?;
        let mut writer = BufWriter::new(file);
        write(&mut writer)?;
        let file = writer.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temporary, path)?;
        sync_directory(path);
        Ok(())
    })();
    result.map_err(|source| {
        let _ = fs::remove_file(&temporary);
        Error::Io { path: path.to_path_buf(), source }
    })
}

/// `dir/.name.tmp-<pid>`: same directory (so the rename stays on one file
/// system), hidden, and distinct per process.
fn temporary_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Makes the rename itself durable; best effort (not every platform can
/// open a directory).
fn sync_directory(path: &Path) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_the_previous_file_and_no_temporary() {
        let dir = std::env::temp_dir().join(format!("kiln-atomic-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("weights.safetensors");
        write_atomically(&path, |w| w.write_all(b"first version")).unwrap();
        // Fails after writing half of the new contents, as a full disk would.
        let err = write_atomically(&path, |w| {
            w.write_all(b"second ver")?;
            Err(io::Error::other("disk full"))
        })
        .unwrap_err();
        assert!(err.to_string().contains("disk full"), "{err}");
        assert_eq!(fs::read(&path).unwrap(), b"first version");
        let leftovers: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("weights.safetensors")]);
        write_atomically(&path, |w| w.write_all(b"third")).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"third");
        fs::remove_dir_all(&dir).unwrap();
    }
}
