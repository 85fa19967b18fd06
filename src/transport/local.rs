//! The local transport: scheduler commands run as processes of this machine.

use std::process::Stdio;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::{CmdOutput, Transport, TransportError};

#[derive(Debug, Default, Clone)]
pub struct LocalTransport;

impl LocalTransport {
    pub fn new() -> Self {
        Self
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
        let out = child.wait_with_output().await.map_err(spawn_err)?;
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
