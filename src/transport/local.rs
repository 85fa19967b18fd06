//! The local transport: scheduler commands run as processes of this machine.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::{CmdOutput, Transport, TransportError};

#[derive(Debug, Clone)]
pub struct LocalTransport {
    /// A scheduler command that hangs (a wedged mbatchd) is stopped after this long, so
    /// bsweep never waits forever; what it was doing counts as unanswered.
    pub timeout: Duration,
}

impl Default for LocalTransport {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(300),
        }
    }
}

impl LocalTransport {
    pub fn new() -> Self {
        Self::default()
    }
}

/// The script travels on stdin ahead of its input, up to a NUL, as over SSH: an argument is
/// limited to 128 KiB (Linux's MAX_ARG_STRLEN), and a batch of a few hundred bsubs with long
/// paths would not be started at all.
const LOCAL_COMMAND: &str = r#"IFS= read -r -d "" s || exit 96; eval "$s""#;

impl Transport for LocalTransport {
    async fn run(&self, script: &str, stdin: &[u8]) -> Result<CmdOutput, TransportError> {
        let spawn_err = |source| TransportError::Spawn {
            place: "this machine".into(),
            source,
        };
        if script.contains('\0') {
            return Err(spawn_err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the script has a NUL byte",
            )));
        }
        let mut child = Command::new("bash")
            .arg("-c")
            .arg(LOCAL_COMMAND)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(spawn_err)?;
        if let Some(mut input) = child.stdin.take() {
            // A script that does not read its stdin closes it early; that is not an error.
            let mut payload = Vec::with_capacity(script.len() + 1 + stdin.len());
            payload.extend_from_slice(script.as_bytes());
            payload.push(0);
            payload.extend_from_slice(stdin);
            let _ = input.write_all(&payload).await;
        }
        // On timeout the child is dropped, and kill_on_drop stops it.
        let out = tokio::time::timeout(self.timeout, child.wait_with_output())
            .await
            .map_err(|_| TransportError::Timeout {
                place: "this machine".into(),
                seconds: self.timeout.as_secs(),
            })?
            .map_err(spawn_err)?;
        Ok(CmdOutput {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            code: out.status.code(),
        })
    }

    fn place(&self) -> String {
        "this machine".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn a_script_larger_than_an_argument_may_be_runs_and_reads_its_input() {
        // 300 KiB: more than one argv string may hold (128 KiB).
        let mut script = String::from("n=0\n");
        for _ in 0..20_000 {
            script.push_str("n=$((n + 1)) # padding padding\n");
        }
        script.push_str("printf '%s ' \"$n\"; cat; echo bye >&2; exit 3\n");
        assert!(script.len() > 300 * 1024);
        let out = LocalTransport::new()
            .run(&script, b"the input")
            .await
            .unwrap();
        assert_eq!(
            (out.stdout.as_str(), out.stderr.as_str(), out.code),
            ("20000 the input", "bye\n", Some(3))
        );
        let err = LocalTransport::new().run("echo a\0b", b"").await;
        assert!(matches!(err, Err(TransportError::Spawn { .. })), "{err:?}");
    }
}
