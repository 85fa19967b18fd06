//! `sbatch`: the options of one submission as argv and as `#SBATCH` lines, and reading its
//! answer (the job id, or why there is none and whether to retry).
//!
//! `#SBATCH` lines are not read by a shell but by sbatch's own tokenizer (`_get_argument` in
//! `src/sbatch/opt.c`): whitespace separates words, `"`/`'` group, a backslash escapes the next
//! character (inside quotes too), an unquoted `#` starts a comment, and a line never continues.
//! Slurm before 18.08 knew only `"` and ended the line at any `#`, quoted or not, and every
//! version blanks the word `packjob` wherever it appears on the line. A value that needs it is
//! therefore written `"..."` with `\`, `"`, `'` and `#` backslash-escaped and the `j` of any
//! `packjob` escaped, which every version reads back as the value; plain values stay plain.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

use super::{BuildError, ErrorKind, check_value, classify, said_lines};

/// The options of one submission. Unset fields are left to the site's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SbatchOpts {
    pub job_name: Option<String>,
    /// Slurm filename patterns: `%j` (job id), `%A`/`%a` (array id/index), `%x` (job name)
    /// are expanded by Slurm, so a literal `%` must be written `%%`.
    pub output: Option<String>,
    pub error: Option<String>,
    pub partition: Option<String>,
    pub account: Option<String>,
    pub qos: Option<String>,
    /// Wall-clock limit; Slurm rounds it up to whole minutes. 0 asks for no limit.
    pub time_limit_seconds: Option<u64>,
    pub memory: Option<Memory>,
    pub cpus_per_task: Option<u32>,
    pub ntasks: Option<u32>,
    /// `--gpus`, as Slurm takes it: `2` or `a100:2`.
    pub gpus: Option<String>,
    /// `--gres`, as Slurm takes it: `gpu:2`.
    pub gres: Option<String>,
    /// `--constraint`: node features, `&`/`|` expressions as Slurm takes them.
    pub constraint: Option<String>,
    pub array: Option<ArraySpec>,
    /// Further options as whole words (`--exclusive`, `--mail-type=END`), each starting with
    /// `-`: a bare word would be taken for the script.
    pub extra: Vec<String>,
}

/// Memory per node or per CPU: Slurm refuses both at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Memory {
    /// `--mem=NM`; 0 asks for all the memory of each node.
    PerNodeMb(u64),
    /// `--mem-per-cpu=NM`.
    PerCpuMb(u64),
}

/// `--array=FIRST-LAST%LIMIT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ArraySpec {
    pub first: u32,
    pub last: u32,
    /// At most this many elements run at once.
    pub max_running: Option<u32>,
}

/// The options as `--name=value` words, in a fixed order.
fn words(o: &SbatchOpts) -> Result<Vec<String>, BuildError> {
    let mut w = Vec::new();
    let mut text = |option: &'static str, v: &Option<String>| -> Result<(), BuildError> {
        if let Some(v) = v {
            check_value(option, v)?;
            w.push(format!("{option}={v}"));
        }
        Ok(())
    };
    text("--job-name", &o.job_name)?;
    text("--output", &o.output)?;
    text("--error", &o.error)?;
    text("--partition", &o.partition)?;
    text("--account", &o.account)?;
    text("--qos", &o.qos)?;
    let positive = |option: &'static str, n: u32| {
        if n == 0 {
            Err(BuildError::BadValue {
                option,
                value: "0".into(),
                problem: "must be at least 1",
            })
        } else {
            Ok(())
        }
    };
    if let Some(secs) = o.time_limit_seconds {
        let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
        w.push(format!("--time={d}-{h:02}:{m:02}:{s:02}"));
    }
    match o.memory {
        Some(Memory::PerNodeMb(mb)) => w.push(format!("--mem={mb}M")),
        Some(Memory::PerCpuMb(mb)) => w.push(format!("--mem-per-cpu={mb}M")),
        None => {}
    }
    if let Some(n) = o.cpus_per_task {
        positive("--cpus-per-task", n)?;
        w.push(format!("--cpus-per-task={n}"));
    }
    if let Some(n) = o.ntasks {
        positive("--ntasks", n)?;
        w.push(format!("--ntasks={n}"));
    }
    let mut text = |option: &'static str, v: &Option<String>| -> Result<(), BuildError> {
        if let Some(v) = v {
            check_value(option, v)?;
            w.push(format!("{option}={v}"));
        }
        Ok(())
    };
    text("--gpus", &o.gpus)?;
    text("--gres", &o.gres)?;
    text("--constraint", &o.constraint)?;
    if let Some(a) = o.array {
        if a.first > a.last {
            return Err(BuildError::BadValue {
                option: "--array",
                value: format!("{}-{}", a.first, a.last),
                problem: "ends before it starts",
            });
        }
        let mut spec = if a.first == a.last {
            a.first.to_string()
        } else {
            format!("{}-{}", a.first, a.last)
        };
        if let Some(k) = a.max_running {
            positive("--array", k)?;
            spec.push_str(&format!("%{k}"));
        }
        w.push(format!("--array={spec}"));
    }
    for e in &o.extra {
        check_value("extra option", e)?;
        if !e.starts_with('-') || e == "--" {
            return Err(BuildError::BadValue {
                option: "extra option",
                value: e.clone(),
                problem: "is not an option (options start with '-'; a bare word or '--' would take the script's place)",
            });
        }
        w.push(e.clone());
    }
    Ok(w)
}

/// `sbatch --parsable OPTIONS...`, the script on stdin. `--parsable` makes the answer `ID` or
/// `ID;CLUSTER`, read by [`parse_sbatch`].
pub fn sbatch_args(opts: &SbatchOpts) -> Result<Vec<String>, BuildError> {
    let mut argv = vec!["sbatch".to_string(), "--parsable".to_string()];
    argv.extend(words(opts)?);
    Ok(argv)
}

/// The same options as `#SBATCH` lines, to put right after the script's `#!` line.
pub fn sbatch_lines(opts: &SbatchOpts) -> Result<Vec<String>, BuildError> {
    Ok(words(opts)?
        .iter()
        .map(|w| format!("#SBATCH {}", sbatch_word(w)))
        .collect())
}

/// A word as sbatch's `#SBATCH` tokenizer reads it back (see the module docs). `--opt=value`
/// keeps its option bare and quotes the value only.
fn sbatch_word(w: &str) -> Cow<'_, str> {
    let special = |c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '\\' | '#');
    let needs =
        |s: &str| s.is_empty() || s.contains(special) || s.to_ascii_lowercase().contains("packjob");
    if !needs(w) {
        return Cow::Borrowed(w);
    }
    let (head, value) = match w.split_once('=') {
        Some((opt, v)) if opt.starts_with("--") && !needs(opt) => (format!("{opt}="), v),
        _ => (String::new(), w),
    };
    let lower = value.to_ascii_lowercase();
    // Byte offsets of the `j` of every `packjob` (ASCII, so offsets agree with `value`'s).
    let js: Vec<usize> = lower.match_indices("packjob").map(|(i, _)| i + 4).collect();
    let mut out = head;
    out.push('"');
    for (i, c) in value.char_indices() {
        if matches!(c, '\\' | '"' | '\'' | '#') || js.contains(&i) {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    Cow::Owned(out)
}

/// A job Slurm accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SbatchOk {
    /// For an array this is the array's id; its elements are `ID_INDEX`.
    pub job_id: u64,
    /// The cluster, when sbatch named one (`ID;CLUSTER`, multi-cluster sites).
    pub cluster: Option<String>,
}

/// sbatch gave no job id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("sbatch failed ({kind}): {message}")]
pub struct SbatchError {
    pub kind: ErrorKind,
    /// Slurm's own lines (`sbatch: error: Batch job submission failed: ...`), or a description
    /// when sbatch printed nothing.
    pub message: String,
}

static PARSABLE_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([0-9]{1,19})(?:;(\S+))?$").expect("static regex"));
static SUBMITTED_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"Submitted batch job ([0-9]{1,19})(?: on cluster (\S+))?").expect("static regex")
});

/// Reads sbatch's answer. `exit_code` is `None` when unknown (killed, SSH dropped).
///
/// A job id wins whatever the exit code says: the job exists, and retrying would submit it
/// twice. With `--parsable` it is the last stdout line that is `ID` or `ID;CLUSTER` (lines a
/// login profile prints come before it); without, `Submitted batch job ID` on either stream.
/// With no id and no output at all the error is Transient: the answer may have been lost with
/// the job submitted, so look it up by name before submitting again. Otherwise the kind
/// follows Slurm's final verdict: "Unable to contact slurm controller", "Socket timed out",
/// "Slurm temporarily unable to accept job" ... are Transient; "Invalid partition name",
/// "Invalid account", "Job violates accounting/QOS policy" and any other refusal Permanent.
pub fn parse_sbatch(
    stdout: &str,
    stderr: &str,
    exit_code: Option<i32>,
) -> Result<SbatchOk, SbatchError> {
    let parsable = stdout.lines().rev().find_map(|l| {
        let c = PARSABLE_RE.captures(l.trim())?;
        Some(SbatchOk {
            job_id: c[1].parse().ok()?,
            cluster: c.get(2).map(|m| m.as_str().to_string()),
        })
    });
    if let Some(ok) = parsable {
        return Ok(ok);
    }
    for line in stdout.lines().chain(stderr.lines()) {
        if let Some(c) = SUBMITTED_RE.captures(line)
            && let Ok(job_id) = c[1].parse()
        {
            return Ok(SbatchOk {
                job_id,
                cluster: c.get(2).map(|m| m.as_str().to_string()),
            });
        }
    }
    let lines = said_lines(stderr, stdout);
    let message = if lines.is_empty() {
        match exit_code {
            Some(c) => format!("sbatch printed nothing and exited with {c}"),
            None => "sbatch printed nothing and its exit status is unknown".to_string(),
        }
    } else {
        lines.join("\n")
    };
    Err(SbatchError {
        kind: classify(&lines),
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// C's `isspace` in the C locale.
    fn c_space(c: char) -> bool {
        matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
    }

    /// Every version blanks `packjob` (any case) in the rest of the line before each word.
    fn blank_packjob(s: &str) -> String {
        let lower = s.to_ascii_lowercase();
        let mut out = s.to_string();
        for (i, _) in lower.match_indices("packjob") {
            out.replace_range(i..i + 7, "       ");
        }
        out
    }

    /// sbatch's `_get_argument` (Slurm 18.08 and later) applied word after word to the text
    /// after `#SBATCH`: a model of the C code to check the quoting against. A word that copies
    /// nothing (`""`, a `#`) ends the line, as the NULL it returns does in C.
    fn slurm_words(line: &str) -> Result<Vec<String>, &'static str> {
        let chars: Vec<char> = blank_packjob(line).chars().collect();
        let mut words = Vec::new();
        let mut i = 0;
        loop {
            while i < chars.len() && c_space(chars[i]) {
                i += 1;
            }
            let (mut word, mut copied) = (String::new(), false);
            let (mut escape, mut quote) = (false, None::<char>);
            while i < chars.len() && (quote.is_some() || !c_space(chars[i])) && chars[i] != '\n' {
                let c = chars[i];
                if escape {
                    escape = false;
                } else if c == '\\' {
                    escape = true;
                    i += 1;
                    continue;
                } else if let Some(q) = quote {
                    if c == q {
                        quote = None;
                        i += 1;
                        continue;
                    }
                } else if c == '"' || c == '\'' {
                    quote = Some(c);
                    i += 1;
                    continue;
                } else if c == '#' {
                    break;
                }
                copied = true;
                word.push(c);
                i += 1;
            }
            if quote.is_some() {
                return Err("unmatched quote");
            }
            if !copied {
                return Ok(words);
            }
            words.push(word);
        }
    }

    /// The tokenizer before 18.08: only `"` groups, and an unescaped `#` ends the line even
    /// inside quotes.
    fn old_slurm_words(line: &str) -> Vec<String> {
        let chars: Vec<char> = blank_packjob(line).chars().collect();
        let mut words = Vec::new();
        let mut i = 0;
        loop {
            while i < chars.len() && c_space(chars[i]) {
                i += 1;
            }
            let (mut word, mut escape, mut grouped) = (String::new(), false, false);
            while i < chars.len() && (grouped || !c_space(chars[i])) && chars[i] != '\n' {
                let c = chars[i];
                if escape {
                    escape = false;
                    word.push(c);
                } else if c == '\\' {
                    escape = true;
                } else if c == '"' {
                    grouped = !grouped;
                } else if c == '#' {
                    break;
                } else {
                    word.push(c);
                }
                i += 1;
            }
            if word.is_empty() {
                return words;
            }
            words.push(word);
        }
    }

    fn read_back(line: &str) -> (Vec<String>, Vec<String>) {
        let rest = line.strip_prefix("#SBATCH").expect("an #SBATCH line");
        (
            slurm_words(rest).expect("well quoted"),
            old_slurm_words(rest),
        )
    }

    #[test]
    fn every_option_in_order() {
        let opts = SbatchOpts {
            job_name: Some("bsw-3f9a1c-00042-1".into()),
            output: Some("/scratch/s/out/%x.out".into()),
            error: Some("/scratch/s/out/%x.err".into()),
            partition: Some("short".into()),
            account: Some("proj1".into()),
            qos: Some("normal".into()),
            time_limit_seconds: Some(90_061),
            memory: Some(Memory::PerCpuMb(2048)),
            cpus_per_task: Some(4),
            ntasks: Some(1),
            gpus: Some("a100:2".into()),
            gres: Some("gpu:2".into()),
            constraint: Some("skylake&ib".into()),
            array: Some(ArraySpec {
                first: 1,
                last: 100,
                max_running: Some(10),
            }),
            extra: vec!["--exclusive".into()],
        };
        let argv = sbatch_args(&opts).expect("argv");
        assert_eq!(
            argv,
            [
                "sbatch",
                "--parsable",
                "--job-name=bsw-3f9a1c-00042-1",
                "--output=/scratch/s/out/%x.out",
                "--error=/scratch/s/out/%x.err",
                "--partition=short",
                "--account=proj1",
                "--qos=normal",
                "--time=1-01:01:01",
                "--mem-per-cpu=2048M",
                "--cpus-per-task=4",
                "--ntasks=1",
                "--gpus=a100:2",
                "--gres=gpu:2",
                "--constraint=skylake&ib",
                "--array=1-100%10",
                "--exclusive",
            ]
        );
        let lines = sbatch_lines(&opts).expect("lines");
        assert_eq!(lines.len(), argv.len() - 2);
        for (line, word) in lines.iter().zip(&argv[2..]) {
            assert_eq!(line, &format!("#SBATCH {word}"), "plain values stay plain");
        }
    }

    #[test]
    fn defaults_and_small_forms() {
        assert_eq!(
            sbatch_args(&SbatchOpts::default()).expect("argv"),
            ["sbatch", "--parsable"]
        );
        assert_eq!(sbatch_lines(&SbatchOpts::default()), Ok(vec![]));
        let o = SbatchOpts {
            time_limit_seconds: Some(0),
            memory: Some(Memory::PerNodeMb(0)),
            array: Some(ArraySpec {
                first: 7,
                last: 7,
                max_running: None,
            }),
            ..SbatchOpts::default()
        };
        assert_eq!(
            sbatch_args(&o).expect("argv")[2..],
            ["--time=0-00:00:00", "--mem=0M", "--array=7"]
        );
    }

    #[test]
    fn hostile_values_read_back_whole_in_every_tokenizer() {
        for value in [
            "my job",
            "a\"b",
            "it's",
            "back\\slash",
            "hash#tag",
            "#",
            "end\\",
            "tab\there",
            "packjob",
            "PackJob-x",
            "xpackjobpackjob",
            "é ü",
            "--",
            "=x",
            "a=b c",
        ] {
            let o = SbatchOpts {
                job_name: Some(value.to_string()),
                extra: vec![format!("--comment={value}")],
                ..SbatchOpts::default()
            };
            let lines = sbatch_lines(&o).expect("lines");
            let argv = sbatch_args(&o).expect("argv");
            for (line, word) in lines.iter().zip(&argv[2..]) {
                let (new, old) = read_back(line);
                assert_eq!(new, std::slice::from_ref(word), "{line}");
                assert_eq!(old, std::slice::from_ref(word), "{line} (before 18.08)");
            }
        }
    }

    proptest::proptest! {
        // Failures become unit tests here, not seed files.
        #![proptest_config(proptest::test_runner::Config {
            failure_persistence: None,
            ..proptest::test_runner::Config::default()
        })]

        /// Any value that can travel reads back as its argv word, in both tokenizers.
        #[test]
        fn any_value_reads_back_whole(
            value in "(?s)[^\n\r\x00]{1,40}|[ #\"'\\\\packjobPACKJOB=-]{1,20}",
        ) {
            // `--` alone is refused on purpose (see values_that_cannot_travel_are_refused).
            proptest::prop_assume!(value != "-");
            let o = SbatchOpts {
                job_name: Some(value.clone()),
                extra: vec![format!("--comment={value}"), format!("-{value}")],
                ..SbatchOpts::default()
            };
            let lines = sbatch_lines(&o).expect("lines");
            let argv = sbatch_args(&o).expect("argv");
            for (line, word) in lines.iter().zip(&argv[2..]) {
                let (new, old) = read_back(line);
                proptest::prop_assert_eq!(&new, std::slice::from_ref(word), "{}", line);
                proptest::prop_assert_eq!(&old, std::slice::from_ref(word), "{} (before 18.08)", line);
            }
        }
    }

    #[test]
    fn values_that_cannot_travel_are_refused() {
        let name = |v: &str| SbatchOpts {
            job_name: Some(v.to_string()),
            ..SbatchOpts::default()
        };
        for bad in ["", "a\nb", "a\rb", "a\0b"] {
            assert!(sbatch_args(&name(bad)).is_err(), "{bad:?}");
            assert!(sbatch_lines(&name(bad)).is_err(), "{bad:?}");
        }
        let extra = |v: &str| SbatchOpts {
            extra: vec![v.to_string()],
            ..SbatchOpts::default()
        };
        for bad in ["script.sh", "--", ""] {
            assert!(sbatch_args(&extra(bad)).is_err(), "{bad:?}");
        }
        let e = sbatch_args(&SbatchOpts {
            array: Some(ArraySpec {
                first: 5,
                last: 1,
                max_running: None,
            }),
            ..SbatchOpts::default()
        })
        .expect_err("backwards array");
        assert_eq!(e.to_string(), "--array value \"5-1\" ends before it starts");
        for o in [
            SbatchOpts {
                cpus_per_task: Some(0),
                ..SbatchOpts::default()
            },
            SbatchOpts {
                ntasks: Some(0),
                ..SbatchOpts::default()
            },
            SbatchOpts {
                array: Some(ArraySpec {
                    first: 1,
                    last: 2,
                    max_running: Some(0),
                }),
                ..SbatchOpts::default()
            },
        ] {
            assert!(sbatch_args(&o).is_err(), "{o:?}");
        }
    }

    fn err(stdout: &str, stderr: &str, code: Option<i32>) -> SbatchError {
        match parse_sbatch(stdout, stderr, code) {
            Err(e) => e,
            Ok(ok) => panic!("expected an error, got {ok:?}"),
        }
    }

    #[test]
    fn answers_with_an_id() {
        let ok = |stdout: &str, stderr: &str, code| parse_sbatch(stdout, stderr, code);
        let id = |job_id, cluster: Option<&str>| {
            Ok(SbatchOk {
                job_id,
                cluster: cluster.map(str::to_string),
            })
        };
        assert_eq!(ok("8\n", "", Some(0)), id(8, None));
        assert_eq!(ok("42;cluster2\n", "", Some(0)), id(42, Some("cluster2")));
        assert_eq!(
            ok("Welcome to the cluster\n2025\n77\n", "", Some(0)),
            id(77, None),
            "the last id line is sbatch's"
        );
        assert_eq!(ok("Submitted batch job 123\n", "", Some(0)), id(123, None));
        assert_eq!(
            ok("", "sbatch: Submitted batch job 9 on cluster c1\n", Some(0)),
            id(9, Some("c1"))
        );
        assert_eq!(
            ok(
                "12\n",
                "sbatch: error: Slurm temporarily unable to accept job, sleeping and retrying\n",
                Some(0)
            ),
            id(12, None),
            "an id after sbatch's own retries"
        );
        assert_eq!(ok("5\n", "", Some(1)), id(5, None), "the id wins");
        // Digits past u64 are no id.
        let e = err("99999999999999999999\n", "", Some(0));
        assert_eq!(e.kind, ErrorKind::Permanent);
    }

    #[test]
    fn failures_keep_slurms_words_and_their_kind() {
        // Slurm 22.05.8's sbatch with its controller unreachable.
        let e = err(
            "",
            "sbatch: error: Batch job submission failed: Unable to contact slurm controller (connect failure)\n",
            Some(1),
        );
        assert_eq!(e.kind, ErrorKind::Transient);
        let e = err(
            "",
            "sbatch: error: Batch job submission failed: Socket timed out on send/recv operation\n",
            Some(1),
        );
        assert_eq!(e.kind, ErrorKind::Transient);
        assert_eq!(
            e.message,
            "sbatch: error: Batch job submission failed: Socket timed out on send/recv operation"
        );
        let e = err(
            "",
            "sbatch: error: Batch job submission failed: Job violates accounting/QOS policy (job submit limit, user's size and/or time limits)\n",
            Some(1),
        );
        assert_eq!(e.kind, ErrorKind::Permanent);
        let e = err("", "", Some(1));
        assert_eq!(e.kind, ErrorKind::Transient);
        assert_eq!(e.message, "sbatch printed nothing and exited with 1");
        let e = err("", "", None);
        assert_eq!(e.kind, ErrorKind::Transient);
        assert_eq!(
            e.message,
            "sbatch printed nothing and its exit status is unknown"
        );
        let e = err("", "bash: sbatch: command not found\n", Some(127));
        assert_eq!(e.kind, ErrorKind::Permanent);
        assert_eq!(
            e.to_string(),
            "sbatch failed (permanent): bash: sbatch: command not found"
        );
    }
}
