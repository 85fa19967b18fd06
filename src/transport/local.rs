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

impl Transport for LocalTransport {
    async fn run(&self, script: &str, stdin: &[u8]) -> Result<CmdOutput, TransportError> {
        let spawn_err = |source| TransportError::Spawn {
            place: "this machine".into(),
            source,
        };
        let mut child = Command::new("bash")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(spawn_err)?;
        if let Some(mut input) = child.stdin.take() {
            // A script that does not read its stdin closes it early; that is not an error.
            let _ = input.write_all(stdin).await;
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
