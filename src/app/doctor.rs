//! `doctor`: checks what a sweep file needs from its cluster (the connection, the login
//! profile's `init`, the scheduler and the forms of its commands, queues, host groups, the
//! remote directory) and says what to fix, one check at a time.

use std::path::Path;

use super::connect::{self, Place};
use super::{AppError, Ctx};
use crate::sched::lsf::{self, BjobsMode};
use crate::shell;
use crate::spec::{BackendKind, Spec};
use crate::transport::{AnyTransport, Transport, batch_script, command_line, parse_batch};

/// How one check went.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Ok(String),
    /// Works, but probably not as meant (a table the backend ignores).
    Warning(String),
    Problem {
        said: String,
        fix: String,
    },
    NotChecked(String),
}

/// One check: what was checked and how it went.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub what: String,
    pub outcome: Outcome,
}

fn ok(what: impl Into<String>, detail: impl Into<String>) -> Check {
    Check {
        what: what.into(),
        outcome: Outcome::Ok(detail.into()),
    }
}

fn problem(what: impl Into<String>, said: impl Into<String>, fix: impl Into<String>) -> Check {
    Check {
        what: what.into(),
        outcome: Outcome::Problem {
            said: said.into(),
            fix: fix.into(),
        },
    }
}

/// Runs the checks, handing each to `show` as it completes. Fails with
/// [`AppError::Problems`] when any check found a problem.
pub async fn doctor(
    ctx: &Ctx,
    file: &Path,
    place: &Place,
    show: &mut dyn FnMut(&Check),
) -> Result<(), AppError> {
    let spec = Spec::load(file)?;
    let n = spec.count();
    show(&ok(
        format!("sweep file {}", file.display()),
        format!("ok ({n} point{})", if n == 1 { "" } else { "s" }),
    ));
    for w in spec.warnings() {
        show(&Check {
            what: format!("sweep file {}", file.display()),
            outcome: Outcome::Warning(w.to_string()),
        });
    }
    if spec.backend == BackendKind::Local {
        show(&ok(
            "backend local",
            "points run on this machine; nothing else to check",
        ));
        return Ok(());
    }
    let mut problems = 0;
    let mut check = |c: Check, show: &mut dyn FnMut(&Check)| {
        if matches!(c.outcome, Outcome::Problem { .. }) {
            problems += 1;
        }
        show(&c);
    };
    let host = place.host(&spec);
    let t = match connect::transport(&ctx.home, host.as_deref(), &spec).await {
        Ok(t) => {
            if let Some(h) = &host {
                check(ok(format!("connection to {h}"), "ok"), show);
            }
            t
        }
        Err(e) => {
            let h = host.unwrap_or_default();
            check(
                problem(
                    format!("connection to {h}"),
                    crate::error_chain(&e),
                    format!(
                        "check it with `ssh {h}`; for a password and code, run `bsweep login {h}` first"
                    ),
                ),
                show,
            );
            return Err(AppError::Problems {
                problems: 1,
                file: file.to_path_buf(),
                unreachable: true,
            });
        }
    };
    if host.is_some()
        && let Some(init) = spec.cluster.as_ref().and_then(|c| c.init.as_deref())
    {
        check(init_check(&t, init).await?, show);
    }
    let queues = connect::queues_of(&spec);
    match lsf::probe(&t, &queues).await {
        Ok(probe) => {
            let version = probe
                .lsid
                .as_ref()
                .map(|l| format!("{} {}", l.product, l.version.clone().unwrap_or_default()))
                .unwrap_or_else(|| "unknown version".into());
            let how = match probe.mode {
                BjobsMode::Json => "-o ... -json",
                BjobsMode::Delimited => "-o ... delimiter (no -json)",
                BjobsMode::Table => "the plain -w table (no -o)",
            };
            check(
                ok(
                    "LSF",
                    format!("{}; bjobs is read with {how}", version.trim()),
                ),
                show,
            );
            for q in &queues {
                let c = if let Some((_, said)) = probe.missing_queues.iter().find(|(m, _)| m == q) {
                    problem(
                        format!("queue {q}"),
                        format!("not found ({said})"),
                        match probe.all_queues.is_empty() {
                            true => "`bqueues` on the cluster lists the queues you may use".into(),
                            false => format!("use one of: {}", probe.all_queues.join(", ")),
                        },
                    )
                } else if probe.all_queues.contains(q) {
                    ok(format!("queue {q}"), "ok")
                } else {
                    Check {
                        what: format!("queue {q}"),
                        outcome: Outcome::NotChecked(
                            "bqueues gave no answer bsweep can read".into(),
                        ),
                    }
                };
                check(c, show);
            }
        }
        Err(e) => check(
            problem(
                "LSF",
                crate::error_chain(&e),
                "make bsub/bjobs reachable in a login shell there, or set [cluster] init (e.g. \"source /etc/profile.d/lsf.sh\")",
            ),
            show,
        ),
    }
    for h in spec.lsf.targets.iter().filter_map(|t| t.hosts.clone()) {
        check(host_group_check(&t, &h).await?, show);
    }
    let dir = match &host {
        Some(_) => connect::remote_dirs(&t, &spec).await?.base,
        None => ctx
            .home
            .sweep(&spec.name)?
            .dir()
            .to_string_lossy()
            .into_owned(),
    };
    check(dir_check(&t, &dir).await?, show);
    if problems > 0 {
        return Err(AppError::Problems {
            problems,
            file: file.to_path_buf(),
            unreachable: false,
        });
    }
    Ok(())
}

/// Whether `[cluster] init` succeeds in the login shell (the transport runs it before every
/// command and keeps its status).
async fn init_check(t: &AnyTransport, init: &str) -> Result<Check, AppError> {
    let out = t
        .run("printf '%s' \"${BSWEEP_INIT_STATUS:-0}\"", b"")
        .await?;
    let what = format!("[cluster] init `{init}`");
    Ok(match out.stdout.trim() {
        "0" => ok(what, "ok"),
        code => problem(
            what,
            format!(
                "it exits {code}{}",
                match out.stderr.trim() {
                    "" => String::new(),
                    e => format!(": {e}"),
                }
            ),
            "fix the line in the sweep file (it runs in a login shell there before every command)",
        ),
    })
}

/// Whether a host group exists, asked the way the site's `bmgroup` understands (OpenLava's
/// has no `-w`).
async fn host_group_check(t: &AnyTransport, group: &str) -> Result<Check, AppError> {
    let cmds = [
        command_line(&["bmgroup", "-w", group]),
        command_line(&["bmgroup", group]),
    ];
    let out = t.run(&batch_script(&cmds, None), b"").await?;
    let f = parse_batch(&out.stdout, 2);
    let rejects_w = |e: &str| {
        let e = e.to_lowercase();
        e.contains("invalid option") || e.contains("illegal option") || e.contains("usage")
    };
    let answer = if rejects_w(&f[0].stderr) {
        &f[1]
    } else {
        &f[0]
    };
    let what = format!("host group {group}");
    Ok(match answer.code {
        Some(0) if answer.stdout.split_whitespace().any(|w| w == group) => ok(what, "ok"),
        Some(127) => Check {
            what,
            outcome: Outcome::NotChecked("no bmgroup on the cluster".into()),
        },
        _ => problem(
            what,
            format!("not found ({})", lsf::said(answer.code, &answer.stderr)),
            "`bmgroup` on the cluster lists the host groups",
        ),
    })
}

/// Whether the sweep's directory can be written (without leaving anything behind).
async fn dir_check(t: &AnyTransport, dir: &str) -> Result<Check, AppError> {
    let probe = format!("{dir}/.bsweep-doctor");
    let script = format!(
        "made=; [ -d {d} ] || made=1; mkdir -p -- {d} && touch -- {f} && rm -f -- {f}; rc=$?; \
         [ -n \"$made\" ] && rmdir -- {d} 2>/dev/null; exit $rc",
        d = shell::quote(dir),
        f = shell::quote(&probe)
    );
    let out = t.run(&script, b"").await?;
    let what = format!("sweep directory {dir}");
    Ok(if out.code == Some(0) {
        ok(what, "writable")
    } else {
        problem(
            what,
            format!("not writable: {}", out.stderr.trim()),
            "set [cluster] remote_dir to a directory you can write",
        )
    })
}
