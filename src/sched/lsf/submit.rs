//! Submitting to LSF: `bsub < script`, up to `submit_parallel` of them at once inside one round
//! trip, or, where the site allows it (LSF 10.1, `LSB_MAX_PACK_JOBS`), job packs: `bsub -pack
//! FILE`, one line of options and command per job, up to 100 jobs a call.
//!
//! Every answer is matched to its own submission, as the engine's intent → job id records need:
//! each bsub's output is framed apart, and a pack's "Job <N> is submitted" lines are taken only
//! when there is exactly one per job (LSF handles a pack's requests in file order). A pack that
//! accepted some of its jobs without one line each cannot say which: those submissions are
//! "unanswered", looked up by their names before anything is submitted again.

use std::ops::Range;

use super::parse::{self, BsubErrorKind};
use super::said;
use crate::model::{JobId, State};
use crate::sched::{Accepted, Submission, SubmitError};
use crate::shell;
use crate::transport::Framed;

/// Whether this cluster takes job packs: learned along with the first submission batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packs {
    Unknown,
    Off,
    /// Packs of at most this many jobs.
    Upto(usize),
}

/// Bytes of pack lines in one call: they travel inside one `bash -c` argument, which Linux
/// caps at 128 KiB.
const PACK_BYTES: usize = 64 * 1024;

/// The plain submission of one job script.
pub fn bsub_command(s: &Submission) -> String {
    format!("bsub < {}", shell::quote(&s.script_path.to_string_lossy()))
}

/// What one `bsub` said, for its submission; `cut` says why there is no answer when the batch
/// was cut before this bsub ended.
pub fn read_bsub(f: &Framed, cut: Option<&str>) -> Result<Accepted, SubmitError> {
    if f.code.is_none() {
        // The batch was cut before this bsub answered: it may or may not have run.
        return Err(SubmitError::Unanswered {
            said: cut
                .unwrap_or("the submission batch stopped early")
                .to_string(),
        });
    }
    match parse::parse_bsub(&f.stdout, &f.stderr, f.code) {
        Ok(s) => Ok(Accepted {
            job_id: JobId::new(s.job_id.to_string()),
            queue: s.queue,
            state: State::Pending,
        }),
        // LSF said so (and not of a timeout): nothing to look for, try again later.
        Err(e) if e.kind == BsubErrorKind::Transient && e.not_submitted => {
            Err(SubmitError::Retry { said: e.message })
        }
        // A transient failure can hide an accepted job (timeouts, a daemon that answered
        // late): look it up by name before submitting again.
        Err(e) if e.kind == BsubErrorKind::Transient => {
            Err(SubmitError::Unanswered { said: e.message })
        }
        Err(e) => Err(SubmitError::Refused { said: e.message }),
    }
}

/// A word of a pack line: bare when plainly safe, else in double quotes (as bsweep writes
/// `#BSUB` values); `None` for one that cannot be quoted so.
fn pack_word(v: &str) -> Option<String> {
    if v.is_empty() || v.contains(['"', '\n', '\r']) {
        return None;
    }
    let plain = v
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_-./:=@%+,".contains(&b));
    Some(if plain {
        v.to_string()
    } else {
        format!("\"{v}\"")
    })
}

/// A submission as one line of a pack file: its script's `#BSUB` options (read the way LSF
/// reads them: up to the first line that is neither blank nor a comment), then `bash SCRIPT`.
/// `None` when it cannot be one line, or its script has no options (plain bsub reads those).
pub fn pack_line(s: &Submission) -> Option<String> {
    let (_, text) = s.files.first()?;
    let text = std::str::from_utf8(text).ok()?;
    let mut words: Vec<&str> = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if let Some(opts) = t.strip_prefix("#BSUB ") {
            words.push(opts.trim());
        } else if !(t.is_empty() || t.starts_with('#')) {
            break;
        }
    }
    if words.is_empty() {
        return None;
    }
    let line = format!(
        "{} bash {}",
        words.join(" "),
        pack_word(&s.script_path.to_string_lossy())?
    );
    (line.len() < PACK_BYTES / 4).then_some(line)
}

/// The command submitting `lines` as one pack: written to a temporary file, `bsub -pack FILE`
/// (LSF wants the file's path, no other option), the file removed, bsub's status kept.
pub fn pack_command(lines: &[String]) -> String {
    let words: Vec<String> = lines.iter().map(|l| shell::quote(l).into_owned()).collect();
    format!(
        "f=$(mktemp) || exit 97; printf '%s\\n' {} > \"$f\"; bsub -pack \"$f\"; r=$?; rm -f \"$f\"; exit $r",
        words.join(" ")
    )
}

/// Consecutive runs of `lines`, each at most `limit` lines and [`PACK_BYTES`] long.
pub fn pack_chunks(lines: &[String], limit: usize) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, l) in lines.iter().enumerate() {
        if i > start && (i - start >= limit.max(1) || bytes + l.len() + 1 > PACK_BYTES) {
            out.push(start..i);
            (start, bytes) = (i, 0);
        }
        bytes += l.len() + 1;
    }
    if start < lines.len() {
        out.push(start..lines.len());
    }
    out
}

/// What one `bsub -pack` call of `n` jobs said.
#[derive(Debug, Clone, PartialEq)]
pub enum PackAnswer {
    /// One submission line per job: the jobs' ids, in the file's order.
    All(Vec<Accepted>),
    /// The call ended without accepting any job: nothing of it was submitted.
    Nothing { said: String },
    /// Some jobs accepted, or the call cut short: which ones is not known.
    Unclear { said: String },
}

/// Reads the answer of one [`pack_command`] of `n` jobs.
pub fn read_pack(f: &Framed, n: usize, cut: Option<&str>) -> PackAnswer {
    let accepted: Vec<Accepted> = f
        .stdout
        .lines()
        .filter(|l| l.contains("submitted"))
        .filter_map(|l| parse::parse_bsub(l, "", Some(0)).ok())
        .map(|s| Accepted {
            job_id: JobId::new(s.job_id.to_string()),
            queue: s.queue,
            state: State::Pending,
        })
        .collect();
    if accepted.len() == n {
        return PackAnswer::All(accepted);
    }
    if f.code.is_none() {
        return PackAnswer::Unclear {
            said: cut
                .unwrap_or("the job pack's submission stopped early")
                .to_string(),
        };
    }
    let words = said(f.code, &format!("{}{}", f.stderr, f.stdout));
    if accepted.is_empty() {
        PackAnswer::Nothing { said: words }
    } else {
        PackAnswer::Unclear {
            said: format!(
                "bsub -pack accepted {} of {n} jobs without saying which ({words})",
                accepted.len()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn sub(script: &str, path: &str) -> Submission {
        Submission {
            index: 0,
            attempt: 1,
            job_name: "bsw-x-00000-1".into(),
            script_path: PathBuf::from(path),
            out_dir: PathBuf::from("/o"),
            target: 0,
            files: vec![("scripts/00000-1.sh".into(), script.as_bytes().to_vec())],
            dirs: Vec::new(),
        }
    }

    fn framed(stdout: &str, stderr: &str, code: Option<i32>) -> Framed {
        Framed {
            stdout: stdout.into(),
            stderr: stderr.into(),
            code,
        }
    }

    #[test]
    fn a_pack_line_carries_the_scripts_options_and_runs_it() {
        let script = "#!/bin/bash\n#BSUB -J bsw-x-00000-1\n#BSUB -q short\n#BSUB -R \"span[hosts=1]\"\n\
                      #BSUB -o /s/out/00000/stdout.txt\n# a comment\n#BSUB -P proj\nset -e\n#BSUB -q late\n";
        assert_eq!(
            pack_line(&sub(script, "/s/scripts/00000-1.sh")).as_deref(),
            Some(
                "-J bsw-x-00000-1 -q short -R \"span[hosts=1]\" -o /s/out/00000/stdout.txt -P proj \
                 bash /s/scripts/00000-1.sh"
            )
        );
        assert_eq!(
            pack_line(&sub(script, "/my dir/s.sh")).map(|l| l.ends_with("bash \"/my dir/s.sh\"")),
            Some(true)
        );
        assert_eq!(pack_line(&sub(script, "/a\"b/s.sh")), None);
        assert_eq!(pack_line(&sub("#!/bin/bash\necho hi\n", "/s.sh")), None);
    }

    #[test]
    fn chunks_hold_at_most_limit_lines_and_bytes() {
        let lines: Vec<String> = (0..250)
            .map(|i| format!("-J j{i} bash /s/{i}.sh"))
            .collect();
        let c = pack_chunks(&lines, 100);
        assert_eq!(c, [0..100, 100..200, 200..250]);
        let long: Vec<String> = (0..10).map(|_| "x".repeat(PACK_BYTES / 4 - 1)).collect();
        let c = pack_chunks(&long, 100);
        assert!(c.iter().all(|r| r.len() <= 4), "{c:?}");
        assert_eq!(c.iter().map(|r| r.len()).sum::<usize>(), 10);
        assert!(pack_chunks(&[], 100).is_empty());
    }

    #[test]
    fn a_pack_answer_counts_only_when_every_job_has_its_line() {
        let ok = "Job <101> is submitted to queue <short>.\nJob <102> is submitted to default queue <normal>.\n";
        match read_pack(&framed(ok, "", Some(0)), 2, None) {
            PackAnswer::All(a) => {
                let ids: Vec<String> = a.iter().map(|a| a.job_id.to_string()).collect();
                assert_eq!(ids, ["101", "102"]);
                assert_eq!(a[1].queue.as_deref(), Some("normal"));
            }
            other => panic!("{other:?}"),
        }
        let one = "Job <101> is submitted to queue <short>.\n";
        assert!(matches!(
            read_pack(&framed(one, "gpu: Queue has been closed. Job not submitted.\n", Some(255)), 2, None),
            PackAnswer::Unclear { said } if said.contains("1 of 2") && said.contains("closed")
        ));
        assert!(matches!(
            read_pack(&framed("", "bsub: illegal option -- pack\n", Some(255)), 2, None),
            PackAnswer::Nothing { said } if said.contains("illegal option")
        ));
        assert!(matches!(
            read_pack(&framed(one, "", None), 2, Some("connection lost")),
            PackAnswer::Unclear { said } if said == "connection lost"
        ));
    }

    #[test]
    fn the_pack_command_writes_the_lines_and_submits_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path();
        // A bsub that shows the file it was given.
        std::fs::write(
            bin.join("bsub"),
            "#!/bin/bash\n[ \"$1\" = -pack ] && cat \"$2\"; exit 3\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(bin.join("bsub"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let lines = vec![
            "-J a -R \"x y\" bash /s/a.sh".to_string(),
            "-J 'b' bash /s/b.sh".to_string(),
        ];
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(pack_command(&lines))
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{}\n{}\n", lines[0], lines[1])
        );
    }
}
