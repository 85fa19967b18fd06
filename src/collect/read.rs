//! Reading a job's files for collect: only regular files, never more than a cap (a job's
//! `metrics.json` can be a FIFO that never ends, a link to `/dev/zero`, or gigabytes), and a
//! metrics file read whole whatever one value in it says.

use std::fs;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
use std::path::Path;

use serde::Deserialize;
use serde_json::value::RawValue;

/// Largest metrics file read; a larger one is skipped with a note.
pub const METRICS_MAX_BYTES: u64 = 64 << 20;

/// How much of the end of a job's stdout is scanned for `key=value` lines and the regex.
pub const STDOUT_SCAN_BYTES: u64 = 64 << 20;

/// Why a file was not read.
#[derive(Debug, thiserror::Error)]
pub enum Unread {
    #[error("it is missing")]
    Missing,
    #[error("it is a {0}, not a regular file")]
    NotRegular(&'static str),
    #[error("it has {size} bytes, more than the {} MiB read", max >> 20)]
    TooLarge { size: u64, max: u64 },
    #[error("it cannot be read")]
    Io(#[source] io::Error),
}

fn kind_of(t: fs::FileType) -> &'static str {
    if t.is_fifo() {
        "FIFO"
    } else if t.is_socket() {
        "socket"
    } else if t.is_char_device() || t.is_block_device() {
        "device"
    } else if t.is_dir() {
        "directory"
    } else {
        "special file"
    }
}

/// Opens `path` for reading if it is a regular file (through symlinks), without ever blocking:
/// a FIFO opens at once in non-blocking mode, and is then refused by what the open file is.
pub fn open_regular(path: &Path) -> Result<fs::File, Unread> {
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Unread::Missing,
            _ => Unread::Io(e),
        })?;
    let t = f.metadata().map_err(Unread::Io)?.file_type();
    if !t.is_file() {
        return Err(Unread::NotRegular(kind_of(t)));
    }
    Ok(f)
}

/// A regular file's contents, when it has at most `max` bytes.
pub fn read_regular(path: &Path, max: u64) -> Result<Vec<u8>, Unread> {
    let f = open_regular(path)?;
    let size = f.metadata().map_err(Unread::Io)?.len();
    if size > max {
        return Err(Unread::TooLarge { size, max });
    }
    let mut buf = Vec::with_capacity(size as usize);
    // A file growing meanwhile is read up to the cap, not beyond.
    f.take(max + 1).read_to_end(&mut buf).map_err(Unread::Io)?;
    if buf.len() as u64 > max {
        return Err(Unread::TooLarge {
            size: buf.len() as u64,
            max,
        });
    }
    Ok(buf)
}

/// The last `max` bytes of a regular file as text, from the first whole line, and whether the
/// file held more.
pub(super) fn read_tail(path: &Path, max: u64) -> Result<(String, bool), Unread> {
    let mut f = open_regular(path)?;
    let size = f.metadata().map_err(Unread::Io)?.len();
    let cut = size > max;
    f.seek(SeekFrom::Start(size.saturating_sub(max)))
        .map_err(Unread::Io)?;
    let mut buf = Vec::new();
    f.take(max).read_to_end(&mut buf).map_err(Unread::Io)?;
    let text = String::from_utf8_lossy(&buf);
    Ok(match (cut, text.find('\n')) {
        (true, Some(i)) => (text[i + 1..].to_string(), true),
        _ => (text.into_owned(), cut),
    })
}

/// An object's members in file order, values unparsed (so no number is ever out of range).
struct Members(Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Members;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<Members, A::Error> {
                let mut v = Vec::new();
                while let Some(e) = m.next_entry::<String, Box<RawValue>>()? {
                    v.push(e);
                }
                Ok(Members(v))
            }
        }
        d.deserialize_map(V)
    }
}

/// Flattens a JSON value into dotted keys (`{"a": {"b": 1}}` → `a.b = 1`). Numbers are kept as
/// written (`1e400`, `0.10`), strings unquoted, `null` empty, arrays as their JSON text.
fn flatten(prefix: &str, v: &RawValue, out: &mut Vec<(String, String)>) {
    let text = v.get();
    let value = match text.as_bytes().first() {
        Some(b'{') => {
            if let Ok(Members(members)) = serde_json::from_str::<Members>(text) {
                for (k, v) in members {
                    let key = if prefix.is_empty() {
                        k
                    } else {
                        format!("{prefix}.{k}")
                    };
                    flatten(&key, &v, out);
                }
                return;
            }
            text.to_string()
        }
        Some(b'"') => serde_json::from_str::<String>(text).unwrap_or_else(|_| text.to_string()),
        Some(b'n') => String::new(),
        _ => text.to_string(),
    };
    out.push((prefix.to_string(), value));
}

/// The metrics in a metrics file named `file`: its keys flattened with dots. A top-level value
/// that is not an object (an array, a number), or a key that is empty, is named after the
/// file (`metrics` for `metrics.json`).
pub(super) fn flatten_json(
    bytes: &[u8],
    file: &str,
) -> Result<Vec<(String, String)>, serde_json::Error> {
    let v: Box<RawValue> = serde_json::from_slice(bytes)?;
    let mut out = Vec::new();
    flatten("", &v, &mut out);
    let stem = Path::new(file)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "value".to_string());
    for (k, _) in &mut out {
        if k.is_empty() {
            k.clone_from(&stem);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn flattens_nested_json_with_dots_keeping_numbers_as_written() {
        let got = flatten_json(
            br#"{"loss": 0.50, "eval": {"acc": 0.9, "f1": null}, "tag": "x", "big": 1e400, "l": [1, 2]}"#,
            "metrics.json",
        )
        .unwrap();
        assert_eq!(
            got,
            pairs(&[
                ("loss", "0.50"),
                ("eval.acc", "0.9"),
                ("eval.f1", ""),
                ("tag", "x"),
                ("big", "1e400"),
                ("l", "[1, 2]"),
            ])
        );
    }

    #[test]
    fn values_that_are_not_objects_are_named_after_the_file() {
        assert_eq!(
            flatten_json(b"[1,2]", "out/result.json").unwrap(),
            pairs(&[("result", "[1,2]")])
        );
        assert_eq!(
            flatten_json(b"0.25", "m.json").unwrap(),
            pairs(&[("m", "0.25")])
        );
        assert_eq!(
            flatten_json(br#"{"": 3, "a": {"": 4}}"#, "m.json").unwrap(),
            pairs(&[("m", "3"), ("a.", "4")])
        );
        assert!(flatten_json(b"{\"a\": 1", "m.json").is_err());
    }

    #[test]
    fn only_regular_files_are_read_and_never_past_the_cap() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        fs::write(d.join("small"), "12345").unwrap();
        assert_eq!(read_regular(&d.join("small"), 5).unwrap(), b"12345");
        assert!(matches!(
            read_regular(&d.join("small"), 4),
            Err(Unread::TooLarge { size: 5, max: 4 })
        ));
        assert!(matches!(
            read_regular(&d.join("none"), 4),
            Err(Unread::Missing)
        ));
        nix::unistd::mkfifo(&d.join("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert!(matches!(
            read_regular(&d.join("fifo"), 4),
            Err(Unread::NotRegular("FIFO"))
        ));
        std::os::unix::fs::symlink("/dev/zero", d.join("zero")).unwrap();
        assert!(matches!(
            read_regular(&d.join("zero"), 4),
            Err(Unread::NotRegular("device"))
        ));
        assert!(matches!(
            read_tail(&d.join("fifo"), 4),
            Err(Unread::NotRegular(_))
        ));
    }

    #[test]
    fn a_tail_starts_at_a_whole_line() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("out");
        fs::write(&p, "first line\nsecond\nthird\n").unwrap();
        assert_eq!(read_tail(&p, 10).unwrap(), ("third\n".to_string(), true));
        assert_eq!(
            read_tail(&p, 100).unwrap(),
            ("first line\nsecond\nthird\n".to_string(), false)
        );
    }
}
