//! `login`: open, check or close the shared SSH connection to a login node that asks for a
//! password and a one-time code; bsweep commands then reuse it.

use super::{AppError, Ctx};
use crate::transport::TransportError;
use crate::transport::ssh;

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error(
        "ssh to {host} failed ({reason}); check the host name, your password and code, then run `bsweep login {host}` again"
    )]
    Failed { host: String, reason: String },
    #[error("cannot run ssh")]
    Spawn(#[source] std::io::Error),
}

/// What `login` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Login {
    /// A live connection was already open.
    AlreadyOpen,
    Opened,
    Closed,
    /// `--close` found none.
    NoneOpen,
}

pub fn login(ctx: &Ctx, host: &str, check: bool, close: bool) -> Result<Login, AppError> {
    let dir = ctx.home.ssh_dir();
    if close {
        return Ok(match ssh::close_master(host, &dir)? {
            true => Login::Closed,
            false => Login::NoneOpen,
        });
    }
    if ssh::check_master(host, &dir) {
        return Ok(Login::AlreadyOpen);
    }
    if check {
        return Err(TransportError::NeedsLogin {
            host: host.to_string(),
        }
        .into());
    }
    let mut cmd = ssh::login_command_with(host, &dir, ctx.home.ssh_config())?;
    let status = cmd.status().map_err(LoginError::Spawn)?;
    if !status.success() || !ssh::check_master(host, &dir) {
        let reason = match status.code() {
            Some(c) => format!("ssh exited {c}"),
            None => "ssh was killed".to_string(),
        };
        return Err(LoginError::Failed {
            host: host.to_string(),
            reason,
        }
        .into());
    }
    Ok(Login::Opened)
}
