//! `doctor`: checks what a sweep file needs from its cluster (the connection, the login
//! profile's `init`, the scheduler and the forms of its commands, queues, host groups,
//! partitions, accounts, the remote directory) and says what to fix, one check at a time.

use std::path::Path;

use super::connect::{self, Place};
use super::{AppError, Ctx};
use crate::sched::lsf::{self, BjobsMode};
use crate::sched::slurm;
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
    let checks = match spec.backend {
        BackendKind::Lsf => lsf_checks(&t, &spec).await?,
        BackendKind::Slurm => slurm_checks(&t, &spec).await,
        BackendKind::Local => Vec::new(),
    };
    for c in checks {
        check(c, show);
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

/// LSF's version and bjobs form, the queues and the host groups the file names.
async fn lsf_checks(t: &AnyTransport, spec: &Spec) -> Result<Vec<Check>, AppError> {
    let mut out = Vec::new();
    let queues = connect::queues_of(spec);
    match lsf::probe(t, &queues).await {
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
            out.push(ok(
                "LSF",
                format!("{}; bjobs is read with {how}", version.trim()),
            ));
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
                out.push(c);
            }
        }
        Err(e) => out.push(problem(
            "LSF",
            crate::error_chain(&e),
            "make bsub/bjobs reachable in a login shell there, or set [cluster] init (e.g. \"source /etc/profile.d/lsf.sh\")",
        )),
    }
    for h in spec.lsf.targets.iter().filter_map(|t| t.hosts.clone()) {
        out.push(host_group_check(t, &h).await?);
    }
    Ok(out)
}

/// Slurm's version and settings, accounting, the partitions, account and QOS the file names,
/// and the array limit, from one probe.
async fn slurm_checks(t: &AnyTransport, spec: &Spec) -> Vec<Check> {
    let probe = match slurm::probe(t).await {
        Ok(p) => p,
        Err(e) => {
            return vec![problem(
                "Slurm",
                crate::error_chain(&e),
                "make sbatch/squeue reachable in a login shell there (PATH, SLURM_CONF), or set \
                 [cluster] init (e.g. \"module load slurm\")",
            )];
        }
    };
    let c = &probe.config;
    let mut out = vec![ok(
        "Slurm",
        format!(
            "{} (cluster {}); MinJobAge {}; MaxArraySize {}",
            c.version.as_deref().unwrap_or("unknown version"),
            c.cluster_name.as_deref().unwrap_or("unnamed"),
            c.min_job_age_seconds
                .map_or_else(|| "unknown".to_string(), |s| format!("{s} s")),
            c.max_array_size
                .map_or_else(|| "unknown".to_string(), |n| n.to_string()),
        ),
    )];
    if !probe.accounting {
        out.push(Check {
            what: "accounting".into(),
            outcome: Outcome::Warning(
                "Slurm keeps no accounting database there (sacct has nothing): exit codes of \
                 failed jobs, their peak memory and exact times stay unknown, and a job squeue \
                 has forgotten counts as lost"
                    .into(),
            ),
        });
    }
    let refused = slurm::probe::refusals(spec, &probe);
    let said = |key: &str, value: &str| {
        refused
            .iter()
            .find(|r| r.key == key && r.value == value)
            .map(|r| format!("Slurm {}", r.message))
    };
    let parts = spec.slurm.targets.iter().filter_map(|t| t.queue.as_deref());
    for p in parts {
        out.push(partition_check(
            p,
            probe.partitions.as_deref(),
            said("partition", p),
        ));
    }
    for r in refused.iter().filter(|r| r.key == "time") {
        out.push(problem(
            format!("time limit {}", r.value),
            format!("Slurm {}", r.message),
            "lower `time` in [slurm], or use a partition that allows it",
        ));
    }
    for (key, value) in [("account", &spec.slurm.account), ("qos", &spec.slurm.qos)] {
        let Some(value) = value else { continue };
        let what = format!("{key} {value}");
        out.push(match (said(key, value), &probe.associations) {
            (Some(why), _) => problem(
                what,
                why,
                "`sacctmgr show assoc user=$USER` there lists your accounts and QOS",
            ),
            (None, None) => Check {
                what,
                outcome: Outcome::NotChecked("sacctmgr gave no associations".into()),
            },
            (None, Some(_)) => ok(what, "ok"),
        });
    }
    if spec.slurm.array {
        out.push(array_check(spec, &probe));
    }
    out
}

/// One partition the file names: `refused` is why the cluster refuses it, if it does.
fn partition_check(
    p: &str,
    partitions: Option<&[slurm::probe::Partition]>,
    refused: Option<String>,
) -> Check {
    let what = format!("partition {p}");
    match (partitions, refused) {
        (_, Some(why)) => problem(what, why, "use one of the partitions `sinfo` lists there"),
        (None, _) => Check {
            what,
            outcome: Outcome::NotChecked("scontrol listed no partitions".into()),
        },
        (Some(all), None) => {
            let part = all.iter().find(|x| x.name == p);
            let state = part.map_or("", |x| x.state.as_str());
            let max = part
                .and_then(|x| x.max_time_seconds)
                .map_or_else(|| "unlimited".to_string(), slurm::probe::duration);
            if state == "UP" {
                ok(what, format!("up, MaxTime {max}"))
            } else {
                problem(
                    what,
                    format!("its state is {state}: jobs sent there wait"),
                    "use a partition that is up, or wait until it is",
                )
            }
        }
    }
}

/// Whether the cluster takes job arrays of the size the file asks for.
fn array_check(spec: &Spec, probe: &slurm::Probe) -> Check {
    let c = &probe.config;
    let asked = spec.slurm.max_array_size;
    let on = slurm::profile_on(spec, &probe.facts()).arrays;
    match (on, c.max_array_size) {
        (None, _) => problem(
            "job arrays",
            "the cluster allows none (MaxArraySize 0 or 1)",
            "set array = false in [slurm]",
        ),
        (Some(n), max) if asked.is_some_and(|a| a > n) => Check {
            what: "job arrays".into(),
            outcome: Outcome::Warning(format!(
                "max_array_size {} is more than Slurm there allows (MaxArraySize {}): \
                 arrays are split at {n} points",
                asked.unwrap_or_default(),
                max.map_or_else(|| "unknown".into(), |m| m.to_string())
            )),
        },
        (Some(n), _) => ok("job arrays", format!("up to {n} points each")),
    }
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
