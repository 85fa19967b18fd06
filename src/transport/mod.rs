//! Transports: where scheduler commands run. One call runs one bash script (one round trip),
//! so a backend batches many commands into a script and reads their framed outputs back.

pub mod archive;
pub mod local;
pub mod ssh;

use std::fmt::Write as _;

use crate::shell;

/// What a script printed, and how it ended (`None`: killed by a signal or connection lost).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CmdOutput {
    pub stdout: String,
    pub stderr: String,
    pub code: Option<i32>,
}

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("cannot run bash on {place}")]
    Spawn {
        place: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the connection to {place} failed: {message}")]
    Connection { place: String, message: String },
    #[error("a command on {place} gave no answer within {seconds} s and was stopped")]
    Timeout { place: String, seconds: u64 },
    /// The local `ssh` program could not be run or talked to.
    #[error("cannot run ssh for {place}")]
    Ssh {
        place: String,
        #[source]
        source: std::io::Error,
    },
    /// The host wants a person (a password, a one-time code) and no connection `bsweep login`
    /// opened is up.
    #[error(
        "no connection to {host} is open, and logging in there needs you (password, one-time \
         code): run `bsweep login {host}` in a terminal, then this command again"
    )]
    NeedsLogin { host: String },
    /// `ssh -G` could not read the ssh configuration for a destination.
    #[error("ssh cannot read its configuration for {dest}: {said}")]
    Config { dest: String, said: String },
    #[error("`{dest}` is not an ssh destination (expected a host, an alias or user@host)")]
    BadDestination { dest: String },
    /// A file transfer failed on the remote side (tar, a bad path, an unreadable archive).
    #[error("file transfer with {place} failed: {message}")]
    Transfer { place: String, message: String },
    /// Files to send could not be packed, or a download could not be unpacked here.
    #[error("file transfer with {place} failed")]
    Archive {
        place: String,
        #[source]
        source: archive::ArchiveError,
    },
    /// A local file or directory bsweep needed could not be used (control sockets, downloads).
    #[error("cannot use {}", .path.display())]
    LocalFile {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Runs bash scripts where the scheduler lives. Each call is one round trip.
#[allow(async_fn_in_trait)] // used only inside this crate, on a single-threaded runtime
pub trait Transport {
    async fn run(&self, script: &str, stdin: &[u8]) -> Result<CmdOutput, TransportError>;

    /// Where commands run, for messages: `this machine`, `user@host`.
    fn place(&self) -> String;
}

/// The output of one command of a [`batch_script`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Framed {
    pub stdout: String,
    pub stderr: String,
    /// `None` when the script stopped before this command ended (connection lost).
    pub code: Option<i32>,
}

/// A bash script running `commands` one after the other and printing each one's stdout, stderr
/// and exit code as prefixed lines (`O<i> `, `E<i> `, `R<i> <code>`), so a single round trip
/// carries many commands and their outputs stay apart. `pause` sleeps between commands (a
/// submission rate limit).
pub fn batch_script(commands: &[String], pause: Option<f64>) -> String {
    let mut s = String::from(BATCH_PRELUDE);
    for (i, c) in commands.iter().enumerate() {
        if i > 0
            && let Some(p) = pause
        {
            let _ = writeln!(s, "sleep {p:.3}");
        }
        let _ = writeln!(s, "bsw_run {i} {}\nbsw_show {i}", shell::quote(c));
    }
    s
}

/// Like [`batch_script`], but the commands run at the same time (independent queries, such as
/// a bjobs split in several calls); their outputs still come back in order.
pub fn parallel_script(commands: &[String]) -> String {
    let mut s = String::from(BATCH_PRELUDE);
    for (i, c) in commands.iter().enumerate() {
        let _ = writeln!(s, "bsw_run {i} {} &", shell::quote(c));
    }
    s.push_str("wait\n");
    for i in 0..commands.len() {
        let _ = writeln!(s, "bsw_show {i}");
    }
    s
}

/// Like [`batch_script`], but up to `at_once` commands run at the same time: they start in
/// order (`pause` seconds apart, a submission rate limit), a new one once the oldest still
/// running has ended, and each one's output is printed as soon as it and every command before
/// it have ended, so a cut connection loses only the answers not yet printed.
pub fn windowed_script(commands: &[String], at_once: usize, pause: Option<f64>) -> String {
    if at_once <= 1 {
        return batch_script(commands, pause);
    }
    let mut s = String::from(BATCH_PRELUDE);
    for (i, c) in commands.iter().enumerate() {
        if i >= at_once {
            let j = i - at_once;
            let _ = writeln!(s, "wait $p{j}; bsw_show {j}");
        }
        if i > 0
            && let Some(p) = pause
        {
            let _ = writeln!(s, "sleep {p:.3}");
        }
        let _ = writeln!(s, "bsw_run {i} {} & p{i}=$!", shell::quote(c));
    }
    for j in commands.len().saturating_sub(at_once)..commands.len() {
        let _ = writeln!(s, "wait $p{j}; bsw_show {j}");
    }
    s
}

/// `bsw_run I CMD` runs a command (in a subshell, so its `exit` ends only itself) into
/// per-command files; `bsw_show I` prints them framed. Both use shell builtins where they can:
/// a process started per command cost more than a fast bsub (the framing was most of a
/// job's submission time). `bsw_emit` prefixes a file's lines, the first 100 with `read`, the
/// rest (a big bjobs answer) with one awk. Commands do not inherit fd 9, the submit lock (see
/// `sched::lsf`): a job started by bsub must not hold it.
const BATCH_PRELUDE: &str = "d=$(mktemp -d) || exit 97\ntrap 'rm -rf \"$d\"' EXIT\n\
bsw_run() { ( eval \"$2\" ) > \"$d/o$1\" 2> \"$d/e$1\" < /dev/null 9>&-; echo $? > \"$d/r$1\"; }\n\
bsw_emit() { [ -s \"$3\" ] || return 0; local l n=0; { \
while [ \"$n\" -lt 100 ] && IFS= read -r l; do printf '%s%s %s\\n' \"$1\" \"$2\" \"$l\"; n=$((n + 1)); done; \
if [ \"$n\" -ge 100 ]; then awk -v p=\"$1$2 \" '{ print p $0 }'; \
elif [ -n \"$l\" ]; then printf '%s%s %s\\n' \"$1\" \"$2\" \"$l\"; fi; } < \"$3\"; }\n\
bsw_show() { local r=; bsw_emit O \"$1\" \"$d/o$1\"; bsw_emit E \"$1\" \"$d/e$1\"; \
read -r r < \"$d/r$1\"; echo \"R$1 $r\"; }\n";

/// Splits the output of a [`batch_script`] back into one [`Framed`] per command.
pub fn parse_batch(stdout: &str, n: usize) -> Vec<Framed> {
    let mut out = vec![Framed::default(); n];
    for line in stdout.lines() {
        let (kind, rest) = match line.chars().next() {
            Some(k @ ('O' | 'E' | 'R')) => (k, &line[1..]),
            _ => continue,
        };
        let (idx, text) = match rest.split_once(' ') {
            Some((i, t)) => (i, t),
            None => (rest, ""),
        };
        let Some(f) = idx.parse::<usize>().ok().and_then(|i| out.get_mut(i)) else {
            continue;
        };
        match kind {
            'O' => {
                f.stdout.push_str(text);
                f.stdout.push('\n');
            }
            'E' => {
                f.stderr.push_str(text);
                f.stderr.push('\n');
            }
            _ => f.code = text.trim().parse().ok(),
        }
    }
    out
}

/// An argv as one shell command line.
pub fn command_line<S: AsRef<str>>(argv: &[S]) -> String {
    argv.iter()
        .map(|a| shell::quote(a.as_ref()).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The transport a sweep uses: this machine, or a cluster's login node over SSH.
pub enum AnyTransport {
    Local(local::LocalTransport),
    Ssh(Box<ssh::SshTransport>),
}

impl Transport for AnyTransport {
    async fn run(&self, script: &str, stdin: &[u8]) -> Result<CmdOutput, TransportError> {
        match self {
            AnyTransport::Local(t) => t.run(script, stdin).await,
            AnyTransport::Ssh(t) => t.run(script, stdin).await,
        }
    }

    fn place(&self) -> String {
        match self {
            AnyTransport::Local(t) => t.place(),
            AnyTransport::Ssh(t) => t.place(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn batch_keeps_outputs_and_codes_apart() {
        use crate::transport::local::LocalTransport;
        let cmds = vec![
            "echo one; echo err1 >&2; exit 3".to_string(),
            "printf 'no newline'".to_string(),
            command_line(&["printf", "%s\\n", "a b; $(id) 'x\""]),
        ];
        let t = LocalTransport::new();
        for script in [batch_script(&cmds, None), parallel_script(&cmds)] {
            let out = t.run(&script, b"").await.unwrap();
            let f = parse_batch(&out.stdout, 3);
            assert_eq!(f[0].stdout, "one\n");
            assert_eq!(f[0].stderr, "err1\n");
            assert_eq!(f[0].code, Some(3));
            assert_eq!(f[1].stdout, "no newline\n");
            assert_eq!(f[1].code, Some(0));
            assert_eq!(f[2].stdout, "a b; $(id) 'x\"\n");
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn long_outputs_blank_lines_and_backslashes_come_back_exactly() {
        use crate::transport::local::LocalTransport;
        // More lines than the framing reads with builtins (100), a last line without newline,
        // blank lines, backslashes, leading spaces; `exit` ends only its own command.
        let cmds = vec![
            r#"for i in $(seq 1 250); do printf '  line %d \\ \t x\n\n' $i; done; printf 'end'"#
                .to_string(),
            "echo out; exit 4; echo never".to_string(),
            "seq 1 150 >&2".to_string(),
        ];
        let mut want0 = String::new();
        for i in 1..=250 {
            want0.push_str(&format!("  line {i} \\ \t x\n\n"));
        }
        want0.push_str("end\n");
        let want2: String = (1..=150).map(|i| format!("{i}\n")).collect();
        let t = LocalTransport::new();
        for script in [
            batch_script(&cmds, None),
            parallel_script(&cmds),
            windowed_script(&cmds, 2, None),
        ] {
            let out = t.run(&script, b"").await.unwrap();
            let f = parse_batch(&out.stdout, 3);
            assert_eq!(f[0].stdout, want0);
            assert_eq!((f[1].stdout.as_str(), f[1].code), ("out\n", Some(4)));
            assert_eq!((f[2].stderr.as_str(), f[2].code), (want2.as_str(), Some(0)));
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_windowed_batch_runs_k_at_once_and_answers_in_order() {
        use crate::transport::local::LocalTransport;
        // Each command records when it starts and ends; the slow first one must not hold back
        // the start of the second, but the third waits for a free place.
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let l = shell::quote(&log.to_string_lossy()).into_owned();
        let cmds: Vec<String> = [("a", "0.6"), ("b", "0.1"), ("c", "0.1"), ("d", "0")]
            .iter()
            .map(|(n, t)| {
                format!(
                    "echo start-{n} >> {l}; sleep {t}; echo end-{n} >> {l}; echo out-{n}; exit 3"
                )
            })
            .collect();
        let t = LocalTransport::new();
        let out = t.run(&windowed_script(&cmds, 2, None), b"").await.unwrap();
        let f = parse_batch(&out.stdout, 4);
        for (k, n) in ["a", "b", "c", "d"].iter().enumerate() {
            assert_eq!(f[k].stdout, format!("out-{n}\n"));
            assert_eq!(f[k].code, Some(3));
        }
        // Answers are printed in command order.
        let order: Vec<&str> = out.stdout.lines().filter(|l| l.starts_with('R')).collect();
        assert_eq!(order, ["R0 3", "R1 3", "R2 3", "R3 3"]);
        let events = std::fs::read_to_string(&log).unwrap();
        let at = |e: &str| events.lines().position(|l| l == e).unwrap();
        assert!(at("start-b") < at("end-a"), "two at once: {events}");
        // c starts once a place is free: after the oldest (a) ended, since it is waited for first.
        assert!(at("start-c") > at("end-a"), "at most two at once: {events}");
        assert_eq!(
            windowed_script(&cmds, 1, Some(0.5)),
            batch_script(&cmds, Some(0.5))
        );
    }

    #[test]
    fn a_cut_batch_leaves_later_commands_without_code() {
        let f = parse_batch("O0 hi\nR0 0\nO1 partial\n", 3);
        assert_eq!(f[0].code, Some(0));
        assert_eq!(f[1].stdout, "partial\n");
        assert_eq!(f[1].code, None);
        assert_eq!(f[2], Framed::default());
    }
}
