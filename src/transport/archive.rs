//! Tar archives that carry files between bsweep and a cluster: built here for uploads, and
//! unpacked from a download without ever writing outside the target directory (an archive
//! from the remote side is not trusted).

use std::fs;
use std::io;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Component, Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Why an archive could not be built or unpacked.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("`{path}` is not a relative path inside the directory")]
    BadPath { path: String },
    #[error("cannot pack {path}")]
    Pack {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("the archive is not a readable tar archive")]
    Unreadable(#[source] io::Error),
    #[error("cannot write {}", path.display())]
    Local {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// A transfer path: relative, with no `..`, and no byte that would break the line-based report.
pub fn relative_path(p: &str) -> Result<PathBuf, ArchiveError> {
    let bad = || ArchiveError::BadPath {
        path: p.to_string(),
    };
    if p.contains(['\n', '\r', '\0']) {
        return Err(bad());
    }
    clean_relative(Path::new(p))
        .filter(|c| c.components().next().is_some())
        .ok_or_else(bad)
}

/// `p` without `.` components, or `None` when it is absolute or has `..`.
pub fn clean_relative(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// A tar archive of `files` (relative path, contents, mode), as `upload` sends them.
pub fn build(files: &[(String, Vec<u8>, u32)]) -> Result<Vec<u8>, ArchiveError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut b = tar::Builder::new(Vec::new());
    for (path, data, mode) in files {
        let rel = relative_path(path)?;
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(data.len() as u64);
        h.set_mode(mode & 0o7777);
        h.set_mtime(now);
        b.append_data(&mut h, &rel, data.as_slice())
            .map_err(|source| ArchiveError::Pack {
                path: path.clone(),
                source,
            })?;
    }
    b.into_inner().map_err(|source| ArchiveError::Pack {
        path: "the archive".into(),
        source,
    })
}

#[derive(Debug, Default)]
pub struct Unpacked {
    /// Relative paths written (files) or made (directories).
    pub written: Vec<PathBuf>,
    pub rejected: Vec<String>,
}

/// [`unpack_safely`] for tests and fuzzing: unpacks `archive` under `root` the way `download`
/// does and returns the relative paths written (files) or made (directories), and the entry
/// names rejected (absolute, with `..`, links, special files, blocked by a file or symlink).
pub fn unpack_into(
    archive: &[u8],
    root: &Path,
) -> Result<(Vec<PathBuf>, Vec<String>), ArchiveError> {
    let u = unpack_safely(archive, root)?;
    Ok((u.written, u.rejected))
}

/// Unpacks a tar archive under `root`, writing only regular files and directories at clean
/// relative names, and never through a symlink: an archive from the remote side is not trusted.
pub fn unpack_safely(archive: &[u8], root: &Path) -> Result<Unpacked, ArchiveError> {
    let local = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ArchiveError::Local { path, source }
    };
    let unreadable = ArchiveError::Unreadable;
    fs::create_dir_all(root).map_err(local(root))?;
    let mut out = Unpacked::default();
    let mut ar = tar::Archive::new(archive);
    for entry in ar.entries().map_err(unreadable)? {
        let mut entry = entry.map_err(unreadable)?;
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() {
            continue;
        }
        let raw = entry.path().map_err(unreadable)?.into_owned();
        let shown = raw.to_string_lossy().into_owned();
        let Some(rel) = clean_relative(&raw) else {
            out.rejected.push(shown);
            continue;
        };
        if kind.is_dir() {
            match safe_dirs(root, &rel)? {
                Some(_) => out.written.push(rel),
                None => out.rejected.push(shown),
            }
            continue;
        }
        let (Some(name), true) = (rel.file_name(), kind.is_file() || kind.is_contiguous()) else {
            out.rejected.push(shown);
            continue;
        };
        let Some(parent) = safe_dirs(root, rel.parent().unwrap_or(Path::new("")))? else {
            out.rejected.push(shown);
            continue;
        };
        let target = parent.join(name);
        if fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir()) {
            out.rejected.push(shown);
            continue;
        }
        // Write beside the target, then rename over it: rename replaces a symlink that sits at
        // the target instead of writing through it.
        // A short name: the entry's own name may already be as long as a name can be.
        // The archive may hold an entry of that very name (found by fuzzing: removing a stale
        // temporary file deleted a file written a moment before), so never remove or reuse
        // one: take the first free name.
        let mode = entry.header().mode().unwrap_or(0o644) & 0o777 | 0o600;
        let mut tmp = PathBuf::new();
        let written = (|| {
            let mut f = free_file(&parent, mode, &mut tmp)?;
            io::copy(&mut entry, &mut f)?;
            f.sync_all()?;
            fs::rename(&tmp, &target)
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(local(&target)(e));
        }
        out.written.push(rel);
    }
    Ok(out)
}

/// Creates a new file `.bsweep-part-PID-N` in `dir` with the first N whose name is free, and
/// sets `path` to it (only once it is created, so that a caller cleaning up after an error
/// removes nothing it did not make).
fn free_file(dir: &Path, mode: u32, path: &mut PathBuf) -> io::Result<fs::File> {
    let pid = std::process::id();
    let mut n = 0u32;
    loop {
        let p = dir.join(format!(".bsweep-part-{pid}-{n}"));
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&p)
        {
            Ok(f) => {
                *path = p;
                return Ok(f);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < u32::MAX => n += 1,
            Err(e) => return Err(e),
        }
    }
}

/// Makes the directories of `rel` under `root`, one component at a time, refusing to pass
/// through anything that is not a plain directory (a symlink could point anywhere). `None`: the
/// path is blocked by a symlink or a file.
fn safe_dirs(root: &Path, rel: &Path) -> Result<Option<PathBuf>, ArchiveError> {
    let mut cur = root.to_path_buf();
    for c in rel.components() {
        cur.push(c);
        match fs::symlink_metadata(&cur) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if let Err(e) = fs::create_dir(&cur)
                    && e.kind() != io::ErrorKind::AlreadyExists
                {
                    return Err(ArchiveError::Local {
                        path: cur,
                        source: e,
                    });
                }
                if !fs::symlink_metadata(&cur).is_ok_and(|m| m.is_dir()) {
                    return Ok(None);
                }
            }
            Err(source) => return Err(ArchiveError::Local { path: cur, source }),
        }
    }
    Ok(Some(cur))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn transfer_paths_stay_inside() {
        assert_eq!(relative_path("a/./b").unwrap(), PathBuf::from("a/b"));
        for bad in ["/etc/x", "../x", "a/../../x", "", ".", "a\nb"] {
            assert!(relative_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn archives_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let files = vec![
            ("a.txt".to_string(), b"A".to_vec(), 0o644),
            (
                "sub/deep/run.sh".to_string(),
                b"#!/bin/sh\n".to_vec(),
                0o755,
            ),
            (format!("{}/long", "x".repeat(150)), b"L".to_vec(), 0o600),
        ];
        let ar = build(&files).unwrap();
        let u = unpack_safely(&ar, dir.path()).unwrap();
        assert!(u.rejected.is_empty(), "{:?}", u.rejected);
        assert_eq!(fs::read(dir.path().join("a.txt")).unwrap(), b"A");
        let m = fs::metadata(dir.path().join("sub/deep/run.sh")).unwrap();
        assert_eq!(m.permissions().mode() & 0o111, 0o111);
        assert_eq!(
            fs::read(dir.path().join("x".repeat(150)).join("long")).unwrap(),
            b"L"
        );
        assert!(build(&[("../up".into(), vec![], 0o644)]).is_err());
        assert!(build(&[("/abs".into(), vec![], 0o644)]).is_err());
    }

    /// A header whose name and link name are written raw: the tar crate refuses to build
    /// unsafe names, the remote side's tar will not.
    fn raw_entry(
        b: &mut tar::Builder<Vec<u8>>,
        kind: tar::EntryType,
        name: &str,
        link: &str,
        data: &[u8],
    ) {
        let mut h = tar::Header::new_gnu();
        {
            let g = h.as_gnu_mut().unwrap();
            g.name[..name.len()].copy_from_slice(name.as_bytes());
            g.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }

    #[test]
    fn a_malicious_archive_writes_nothing_outside() {
        let base = tempfile::tempdir().unwrap();
        let root = base.path().join("in");
        let outside = base.path().join("out");
        fs::create_dir_all(&root).unwrap();
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("target"), b"original").unwrap();
        // Symlinks already under the download directory must not be followed either.
        std::os::unix::fs::symlink(&outside, root.join("pre")).unwrap();
        std::os::unix::fs::symlink(outside.join("target"), root.join("pre-file")).unwrap();
        let out = outside.to_str().unwrap();
        let abs = format!("{out}/abs-x");

        let mut b = tar::Builder::new(Vec::new());
        use tar::EntryType as T;
        raw_entry(&mut b, T::Regular, "../x", "", b"up");
        raw_entry(&mut b, T::Regular, "ok/../../y", "", b"up2");
        raw_entry(&mut b, T::Regular, &abs, "", b"abs");
        raw_entry(&mut b, T::Regular, "/etc/bsweep-unpack-test-x", "", b"etc");
        raw_entry(&mut b, T::Symlink, "evil", out, b"");
        raw_entry(&mut b, T::Regular, "evil/y", "", b"through the link");
        raw_entry(&mut b, T::Link, "hl", &format!("{out}/target"), b"");
        raw_entry(&mut b, T::Regular, "hl", "", b"pwned");
        raw_entry(&mut b, T::Char, "dev", "", b"");
        raw_entry(&mut b, T::Fifo, "fifo", "", b"");
        raw_entry(&mut b, T::Regular, "pre/z", "", b"via existing link");
        raw_entry(&mut b, T::Regular, "pre-file", "", b"replaced");
        raw_entry(&mut b, T::Regular, "good/file.txt", "", b"fine");
        let ar = b.into_inner().unwrap();

        let u = unpack_safely(&ar, &root).unwrap();

        // Nothing outside changed or appeared.
        assert_eq!(fs::read(outside.join("target")).unwrap(), b"original");
        let mut names: Vec<_> = fs::read_dir(&outside)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names, vec![std::ffi::OsString::from("target")]);
        assert!(!base.path().join("x").exists());
        assert!(!base.path().join("y").exists());
        assert!(!Path::new("/etc/bsweep-unpack-test-x").exists());
        // Unsafe entries are reported, safe ones written.
        for r in [
            "../x",
            "ok/../../y",
            abs.as_str(),
            "/etc/bsweep-unpack-test-x",
        ] {
            assert!(u.rejected.iter().any(|x| x == r), "{r} not rejected");
        }
        for r in ["evil", "dev", "fifo", "pre/z"] {
            assert!(u.rejected.iter().any(|x| x == r), "{r} not rejected");
        }
        assert!(u.rejected.iter().filter(|x| *x == "hl").count() == 1);
        assert_eq!(fs::read(root.join("good/file.txt")).unwrap(), b"fine");
        // `evil` was never a link here, so evil/y is a plain file inside.
        assert!(
            !fs::symlink_metadata(root.join("evil"))
                .unwrap()
                .is_symlink()
        );
        assert_eq!(fs::read(root.join("evil/y")).unwrap(), b"through the link");
        // A regular entry at a hard link's name is a new file, not a write to the link target.
        assert_eq!(fs::read(root.join("hl")).unwrap(), b"pwned");
        // The existing symlink was replaced, not written through.
        assert!(
            !fs::symlink_metadata(root.join("pre-file"))
                .unwrap()
                .is_symlink()
        );
        assert_eq!(fs::read(root.join("pre-file")).unwrap(), b"replaced");
        assert!(!root.join("dev").exists() && !root.join("fifo").exists());
    }

    /// Found by fuzzing: an entry named like the unpacker's temporary file was deleted by the
    /// next entry of its directory, yet reported written.
    #[test]
    fn an_entry_named_like_the_temporary_file_survives() {
        let dir = tempfile::tempdir().unwrap();
        let pid = std::process::id();
        let mut b = tar::Builder::new(Vec::new());
        for name in [
            format!(".bsweep-part-{pid}"),
            format!(".bsweep-part-{pid}-0"),
            "next".to_string(),
        ] {
            raw_entry(&mut b, tar::EntryType::Regular, &name, "", name.as_bytes());
        }
        let dir_name = format!(".bsweep-part-{pid}-1");
        raw_entry(&mut b, tar::EntryType::Directory, &dir_name, "", b"");
        raw_entry(&mut b, tar::EntryType::Regular, "last", "", b"last");
        let ar = b.into_inner().unwrap();
        let u = unpack_safely(&ar, dir.path()).unwrap();
        assert!(u.rejected.is_empty(), "{:?}", u.rejected);
        for w in &u.written {
            assert!(
                dir.path().join(w).exists(),
                "{w:?} reported written, not there"
            );
        }
        for name in [
            format!(".bsweep-part-{pid}"),
            format!(".bsweep-part-{pid}-0"),
        ] {
            assert_eq!(fs::read(dir.path().join(&name)).unwrap(), name.as_bytes());
        }
        assert_eq!(fs::read(dir.path().join("last")).unwrap(), b"last");
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 5);
    }

    #[test]
    fn garbage_is_not_an_archive() {
        let dir = tempfile::tempdir().unwrap();
        assert!(unpack_safely(&[1u8; 700], dir.path()).is_err());
    }
}
