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

/// Why an archive entry was not written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Absolute, or with `..`: it would land outside the directory.
    Outside,
    /// A symbolic link: never made or followed.
    Symlink,
    /// A hard link to a file this archive did not bring (hard links to an earlier entry are
    /// written as copies).
    HardLink,
    /// A FIFO, socket or device ("FIFO", "character device", ...): never made.
    Special(&'static str),
    /// Its parent here is not a plain directory (a file or symlink is in the way), or a
    /// directory is where the file would go.
    Blocked,
    /// Larger than the cap set for it.
    TooLarge { size: u64, max: u64 },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Outside => f.write_str("its name would land outside the sweep's directory"),
            Refusal::Symlink => f.write_str("it is a symbolic link (links are not followed)"),
            Refusal::HardLink => f.write_str("it is a hard link to a file not in the download"),
            Refusal::Special(kind) => write!(f, "it is a {kind}, not a regular file"),
            Refusal::Blocked => f.write_str("something that is not a directory is in its way here"),
            Refusal::TooLarge { size, max } => {
                write!(f, "it has {size} bytes, more than the {max} allowed")
            }
        }
    }
}

#[derive(Debug, Default)]
pub struct Unpacked {
    /// Relative paths written (files) or made (directories).
    pub written: Vec<PathBuf>,
    /// The regular files among them, complete, with their sizes.
    pub files: Vec<(PathBuf, u64)>,
    /// Entries not written (their names as the archive gives them), and why.
    pub rejected: Vec<(String, Refusal)>,
}

/// [`unpack_safely`] for tests and fuzzing: unpacks `archive` under `root` the way `download`
/// does and returns the relative paths written (files) or made (directories), and the entry
/// names rejected (absolute, with `..`, links, special files, blocked by a file or symlink).
pub fn unpack_into(
    archive: &[u8],
    root: &Path,
) -> Result<(Vec<PathBuf>, Vec<String>), ArchiveError> {
    let u = unpack_safely(archive, root)?;
    Ok((u.written, u.rejected.into_iter().map(|(n, _)| n).collect()))
}

/// Unpacks a tar archive under `root`, writing only regular files and directories at clean
/// relative names, and never through a symlink: an archive from the remote side is not trusted.
pub fn unpack_safely(archive: &[u8], root: &Path) -> Result<Unpacked, ArchiveError> {
    let mut out = Unpacked::default();
    unpack_from(archive, root, &|_| None, &mut out)?;
    Ok(out)
}

/// [`unpack_safely`] from a stream, as it arrives: memory stays bounded whatever the sizes
/// (each file goes to disk in chunks, holes stay holes). `max_bytes` caps the size of the file
/// at a relative path (a larger one is skipped, not read into anything). What was written
/// before an error is in `out`: a download cut short keeps it.
pub fn unpack_from<R: io::Read>(
    archive: R,
    root: &Path,
    max_bytes: &dyn Fn(&Path) -> Option<u64>,
    out: &mut Unpacked,
) -> Result<(), ArchiveError> {
    let unreadable = ArchiveError::Unreadable;
    fs::create_dir_all(root).map_err(local(root))?;
    // Files this archive wrote, by name: the only ones a hard link may be copied from.
    let mut ours: std::collections::HashSet<PathBuf> = std::collections::HashSet::new();
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
            out.rejected.push((shown, Refusal::Outside));
            continue;
        };
        if kind.is_dir() {
            match safe_dirs(root, &rel)? {
                Some(_) => out.written.push(rel),
                None => out.rejected.push((shown, Refusal::Blocked)),
            }
            continue;
        }
        // A hard link to an earlier entry of this archive: a copy of it.
        let source = if kind.is_hard_link() {
            let link = entry.link_name().map_err(unreadable)?;
            match link.as_deref().and_then(clean_relative) {
                Some(l) if ours.contains(&l) => Some(l),
                _ => {
                    out.rejected.push((shown, Refusal::HardLink));
                    continue;
                }
            }
        } else {
            None
        };
        let refusal = match kind {
            _ if source.is_some() || kind.is_file() || kind.is_contiguous() => None,
            _ if kind.is_gnu_sparse() => None,
            _ if kind.is_symlink() => Some(Refusal::Symlink),
            _ if kind.is_fifo() => Some(Refusal::Special("FIFO")),
            _ if kind.is_character_special() => Some(Refusal::Special("character device")),
            _ if kind.is_block_special() => Some(Refusal::Special("block device")),
            _ => Some(Refusal::Special("special file")),
        };
        if let Some(r) = refusal {
            out.rejected.push((shown, r));
            continue;
        }
        let size = entry.size();
        if let Some(max) = max_bytes(&rel).filter(|m| size > *m) {
            out.rejected.push((shown, Refusal::TooLarge { size, max }));
            continue;
        }
        let Some(name) = rel.file_name() else {
            out.rejected.push((shown, Refusal::Outside));
            continue;
        };
        let Some(parent) = safe_dirs(root, rel.parent().unwrap_or(Path::new("")))? else {
            out.rejected.push((shown, Refusal::Blocked));
            continue;
        };
        let target = parent.join(name);
        if fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir()) {
            out.rejected.push((shown, Refusal::Blocked));
            continue;
        }
        let mode = entry.header().mode().unwrap_or(0o644) & 0o777 | 0o600;
        let size = match &source {
            Some(src) => {
                let mut from = open_ours(&root.join(src)).map_err(local(&root.join(src)))?;
                write_file(&mut from, &parent, &target, mode, None)?
            }
            None => write_file(&mut entry, &parent, &target, mode, Some(size))?,
        };
        ours.insert(rel.clone());
        out.files.push((rel.clone(), size));
        out.written.push(rel);
    }
    Ok(())
}

fn local(path: &Path) -> impl FnOnce(io::Error) -> ArchiveError + use<> {
    let path = path.to_path_buf();
    move |source| ArchiveError::Local { path, source }
}

/// A file this unpack wrote, opened without following a symlink that might have replaced it.
fn open_ours(path: &Path) -> io::Result<fs::File> {
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// Writes `data` beside `target`, then renames it over `target`: rename replaces a symlink that
/// sits at the target instead of writing through it. Returns the size written. With `expect`,
/// fewer bytes (a stream cut short: an entry's reader just ends) leave nothing behind.
fn write_file(
    data: &mut dyn io::Read,
    parent: &Path,
    target: &Path,
    mode: u32,
    expect: Option<u64>,
) -> Result<u64, ArchiveError> {
    // A short name: the entry's own name may already be as long as a name can be.
    // The archive may hold an entry of that very name (found by fuzzing: removing a stale
    // temporary file deleted a file written a moment before), so never remove or reuse
    // one: take the first free name.
    let mut tmp = PathBuf::new();
    let written = (|| {
        let mut f = free_file(parent, mode, &mut tmp)?;
        let size = copy_sparse(data, &mut f)?;
        if expect.is_some_and(|n| n != size) {
            return Ok(None);
        }
        f.sync_all()?;
        fs::rename(&tmp, target)?;
        Ok(Some(size))
    })();
    let cleanup = |tmp: &Path| {
        if !tmp.as_os_str().is_empty() {
            let _ = fs::remove_file(tmp);
        }
    };
    match written {
        Ok(Some(size)) => Ok(size),
        Ok(None) => {
            cleanup(&tmp);
            Err(ArchiveError::Unreadable(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the archive ends inside {}", target.display()),
            )))
        }
        Err(e) => {
            cleanup(&tmp);
            Err(local(target)(e))
        }
    }
}

/// Bytes per read when writing a file: zero chunks of this size become holes.
const CHUNK: usize = 256 * 1024;

static ZEROS: [u8; CHUNK] = [0; CHUNK];

/// Copies `data` into `f` a chunk at a time, seeking over chunks of zeros instead of writing
/// them, so a sparse file (sent compactly or not) stays sparse. Returns the size.
fn copy_sparse(data: &mut dyn io::Read, f: &mut fs::File) -> io::Result<u64> {
    use io::{Seek as _, Write as _};
    let mut buf = vec![0u8; CHUNK];
    let mut size = 0u64;
    loop {
        // Fill the chunk (a pipe gives what it has) so holes are found at chunk granularity.
        let mut n = 0;
        while n < buf.len() {
            match data.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if n == 0 {
            break;
        }
        // A slice comparison is one memcmp, fast in any build.
        if buf[..n] == ZEROS[..n] {
            f.seek(io::SeekFrom::Current(n as i64))?;
        } else {
            f.write_all(&buf[..n])?;
        }
        size += n as u64;
    }
    // A hole at the end has no byte written after it: the length says where the file ends.
    f.set_len(size)?;
    Ok(size)
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
        let why = |name: &str| {
            let w: Vec<&Refusal> = u
                .rejected
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, w)| w)
                .collect();
            assert_eq!(w.len(), 1, "{name}: {w:?}");
            w[0].clone()
        };
        for r in [
            "../x",
            "ok/../../y",
            abs.as_str(),
            "/etc/bsweep-unpack-test-x",
        ] {
            assert_eq!(why(r), Refusal::Outside, "{r}");
        }
        assert_eq!(why("evil"), Refusal::Symlink);
        assert_eq!(why("dev"), Refusal::Special("character device"));
        assert_eq!(why("fifo"), Refusal::Special("FIFO"));
        assert_eq!(why("pre/z"), Refusal::Blocked);
        // A hard link to a file outside the archive is never made or copied.
        assert_eq!(why("hl"), Refusal::HardLink);
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
    fn hard_links_to_earlier_entries_are_written_as_copies() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = tar::Builder::new(Vec::new());
        use tar::EntryType as T;
        raw_entry(&mut b, T::Regular, "out/a.txt", "", b"shared");
        raw_entry(&mut b, T::Link, "out/b.txt", "out/a.txt", b"");
        raw_entry(&mut b, T::Link, "./out/c.txt", "./out/a.txt", b"");
        raw_entry(&mut b, T::Link, "out/d.txt", "out/not-in-archive", b"");
        let ar = b.into_inner().unwrap();
        let u = unpack_safely(&ar, dir.path()).unwrap();
        use std::os::unix::fs::MetadataExt as _;
        for f in ["out/a.txt", "out/b.txt", "out/c.txt"] {
            assert_eq!(fs::read(dir.path().join(f)).unwrap(), b"shared", "{f}");
            assert_eq!(fs::metadata(dir.path().join(f)).unwrap().nlink(), 1, "{f}");
        }
        assert_eq!(u.rejected, [("out/d.txt".to_string(), Refusal::HardLink)]);
        assert_eq!(u.files.len(), 3);
    }

    #[test]
    fn holes_stay_holes_and_caps_skip_large_files() {
        use std::os::unix::fs::MetadataExt as _;
        let dir = tempfile::tempdir().unwrap();
        // 8 MiB of zeros with a few bytes in the middle, as a plain (not sparse) tar entry.
        let mut data = vec![0u8; 8 << 20];
        data[4 << 20] = 7;
        let mut b = tar::Builder::new(Vec::new());
        raw_entry(&mut b, tar::EntryType::Regular, "sparse", "", &data);
        raw_entry(&mut b, tar::EntryType::Regular, "big", "", &[1u8; 100]);
        let ar = b.into_inner().unwrap();
        let mut u = Unpacked::default();
        let cap = |p: &Path| (p == Path::new("big")).then_some(99);
        unpack_from(ar.as_slice(), dir.path(), &cap, &mut u).unwrap();
        let m = fs::metadata(dir.path().join("sparse")).unwrap();
        assert_eq!(m.len(), 8 << 20);
        assert!(m.blocks() * 512 < 1 << 20, "{} blocks", m.blocks());
        assert_eq!(fs::read(dir.path().join("sparse")).unwrap(), data);
        assert_eq!(
            u.rejected,
            [("big".to_string(), Refusal::TooLarge { size: 100, max: 99 })]
        );
        assert!(!dir.path().join("big").exists());
    }

    #[test]
    fn a_stream_cut_short_keeps_what_arrived_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = tar::Builder::new(Vec::new());
        raw_entry(&mut b, tar::EntryType::Regular, "first", "", &[1u8; 2000]);
        raw_entry(&mut b, tar::EntryType::Regular, "second", "", &[2u8; 5000]);
        let ar = b.into_inner().unwrap();
        let mut u = Unpacked::default();
        let cut = &ar[..512 + 2048 + 512 + 1000];
        assert!(unpack_from(cut, dir.path(), &|_| None, &mut u).is_err());
        assert_eq!(u.files, [(PathBuf::from("first"), 2000)]);
        assert_eq!(fs::read(dir.path().join("first")).unwrap(), [1u8; 2000]);
        // Nothing half-written is left under the entry's name or beside it.
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["first"]);
    }

    #[test]
    fn garbage_is_not_an_archive() {
        let dir = tempfile::tempdir().unwrap();
        assert!(unpack_safely(&[1u8; 700], dir.path()).is_err());
    }
}
