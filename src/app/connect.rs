//! Reaching a sweep's scheduler: the only place that picks a transport (this machine or SSH),
//! probes the cluster, checks the queues and partitions a sweep file names, resolves the remote directories,
//! and builds the scheduler and engine of a recorded sweep (the composition root).

use std::path::Path;

use itertools::Itertools;

use super::{AppError, ClusterError};
use crate::engine::Engine;
use crate::engine::events::Reporter;
use crate::layout::{Home, JobPaths};
use crate::model::Clock;
use crate::sched::AnySched;
use crate::sched::local::LocalScheduler;
use crate::sched::lsf::{self, BJOBS_MODE_SETTING, BjobsMode, LsfScheduler};
use crate::sched::slurm::{self, SlurmScheduler};
use crate::spec::{BackendKind, Spec, SpecError};
use crate::store::{Store, SweepMeta};
use crate::transport::local::LocalTransport;
use crate::transport::ssh::{SshOpts, SshTransport};
use crate::transport::{AnyTransport, Transport};

/// Where a sweep's scheduler commands run, as the command line says.
#[derive(Debug, Clone, Default)]
pub struct Place {
    /// Reach the scheduler on this login host over SSH (overrides `[cluster] host`).
    pub host: Option<String>,
    /// Run scheduler commands on this machine even if the sweep file names a host.
    pub here: bool,
}

impl Place {
    /// The SSH host a sweep uses, if any.
    pub fn host(&self, spec: &Spec) -> Option<String> {
        if self.here {
            return None;
        }
        if let Some(h) = &self.host {
            return Some(h.clone());
        }
        // A local sweep runs here; its `[cluster]` table is ignored (the sweep file warns).
        if spec.backend == BackendKind::Local {
            return None;
        }
        spec.cluster.as_ref().map(|c| c.host.clone())
    }
}

/// The transport to `host` (SSH), or this machine when there is none. SSH attaches to the
/// connection `bsweep login` opened, or (key-based hosts) opens one without ever prompting.
pub async fn transport(
    home: &Home,
    host: Option<&str>,
    spec: &Spec,
) -> Result<AnyTransport, AppError> {
    let Some(host) = host else {
        return Ok(AnyTransport::Local(LocalTransport::new()));
    };
    let opts = SshOpts {
        init: spec.cluster.as_ref().and_then(|c| c.init.clone()),
        config_file: home.ssh_config().map(Path::to_path_buf),
        ..SshOpts::default()
    };
    let t = SshTransport::connect(host, &home.ssh_dir(), opts).await?;
    Ok(AnyTransport::Ssh(Box::new(t)))
}

/// The transport of a recorded sweep.
pub async fn transport_of(home: &Home, meta: &SweepMeta) -> Result<AnyTransport, AppError> {
    let spec = Spec::from_toml(&meta.spec_text, &meta.source)?;
    transport(home, meta.host.as_deref(), &spec).await
}

/// The remote home and the directory the sweeps of a sweep file keep theirs in (each its own
/// `NAME-ID`, see [`crate::layout::remote_sweep_dir`]), both absolute.
pub struct RemoteDirs {
    pub home: String,
    pub base: String,
}

/// Reads the remote home and resolves `[cluster] remote_dir` (default `~/.bsweep`) against it.
pub async fn remote_dirs(t: &AnyTransport, spec: &Spec) -> Result<RemoteDirs, AppError> {
    let out = t.run("printf '%s' \"$HOME\"", b"").await?;
    let home = out.stdout.trim().to_string();
    if out.code != Some(0) || !home.starts_with('/') {
        // The exit status always, and what the login shell said (a banner may be all of it).
        let said = format!(
            "the login shell gave {}{} (check `[cluster] init` and the login profile there)",
            crate::sched::lsf::said(out.code, &out.stderr),
            if home.is_empty() || home.starts_with('/') {
                String::new()
            } else {
                format!(", and printed `{home}` for $HOME")
            }
        );
        return Err(ClusterError::NoHome {
            place: t.place(),
            said,
        }
        .into());
    }
    let remote_dir = spec.cluster.as_ref().and_then(|c| c.remote_dir.as_deref());
    let base = crate::layout::remote_base(&home, remote_dir);
    Ok(RemoteDirs { home, base })
}

/// The queues a sweep file names, each once.
pub fn queues_of(spec: &Spec) -> Vec<String> {
    spec.lsf
        .targets
        .iter()
        .filter_map(|t| t.queue.clone())
        .unique()
        .collect()
}

/// Probes an LSF cluster in one round trip and refuses a sweep file naming a queue it does not
/// have, as an error at the line that names it; `next` ends "Fix the sweep file and ...".
pub async fn check_lsf(t: &AnyTransport, spec: &Spec, next: &str) -> Result<lsf::Probe, AppError> {
    let probe = lsf::probe(t, &queues_of(spec)).await?;
    if let Some((queue, said)) = probe.missing_queues.first() {
        return Err(missing_queue(spec, &t.place(), queue, said, &probe, next).into());
    }
    Ok(probe)
}

/// A queue LSF says it does not have, as an error in the sweep file where it names the queue.
fn missing_queue(
    spec: &Spec,
    place: &str,
    queue: &str,
    said: &str,
    probe: &lsf::Probe,
    next: &str,
) -> SpecError {
    let mut msg = format!("LSF on {place} has no queue `{queue}` (bqueues: \"{said}\")");
    let others: Vec<&str> = probe
        .missing_queues
        .iter()
        .skip(1)
        .map(|(q, _)| q.as_str())
        .collect();
    if !others.is_empty() {
        msg.push_str(&format!(", nor {}", others.join(", ")));
    }
    if !probe.all_queues.is_empty() {
        msg.push_str(&format!("; its queues: {}", probe.all_queues.join(", ")));
    }
    msg.push_str(&format!(". Fix the sweep file and {next}"));
    spec.queue_error(queue, msg)
}

/// Probes a Slurm cluster in one round trip and refuses a sweep file it would refuse or never
/// run (a partition it does not have, a time over a partition's MaxTime, an account or QOS the
/// user may not use), as an error at the line that says it; `next` ends "Fix the sweep file
/// and ...".
pub async fn check_slurm(
    t: &AnyTransport,
    spec: &Spec,
    next: &str,
) -> Result<slurm::Probe, AppError> {
    let probe = slurm::probe(t).await?;
    if let Some(r) = slurm::probe::refusals(spec, &probe).into_iter().next() {
        let msg = format!(
            "Slurm on {} {}. Fix the sweep file and {next}",
            t.place(),
            r.message
        );
        return Err(spec.slurm_error(r.key, &r.value, msg).into());
    }
    Ok(probe)
}

/// What a sweep's store keeps about its cluster, learned by probing it once.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Known {
    /// Which bjobs form an LSF cluster understands.
    pub bjobs_mode: Option<BjobsMode>,
    /// A Slurm cluster's array limit and accounting.
    pub slurm: Option<slurm::Facts>,
}

impl Known {
    /// What the sweep's store holds.
    pub fn read(store: &Store) -> Result<Known, AppError> {
        let get = |key: &str| -> Result<Option<String>, AppError> { Ok(store.setting(key)?) };
        Ok(Known {
            bjobs_mode: get(BJOBS_MODE_SETTING)?.and_then(|m| serde_json::from_str(&m).ok()),
            slurm: get(slurm::FACTS_SETTING)?.and_then(|m| serde_json::from_str(&m).ok()),
        })
    }
}

/// The scheduler of a recorded sweep, with the backend it names. What it needs to know about
/// the cluster is probed once and remembered in the sweep's store.
pub async fn scheduler(store: &Store, clock: &Clock) -> Result<AnySched, AppError> {
    let known = Known::read(store)?;
    let (sched, probed) = scheduler_for(store.home(), store.meta(), known, clock).await?;
    remember(store, &probed)?;
    Ok(sched)
}

/// The scheduler of the sweep `meta` describes, given what is `known` of its cluster. Returns
/// what had to be probed.
pub async fn scheduler_for(
    home: &Home,
    meta: &SweepMeta,
    known: Known,
    clock: &Clock,
) -> Result<(AnySched, Known), AppError> {
    let spec = Spec::from_toml(&meta.spec_text, &meta.source)?;
    let mut probed = Known::default();
    let sched = match meta.backend {
        BackendKind::Local => {
            // Without its own path bsweep still runs jobs, just without their peak memory.
            let sched = match std::env::current_exe() {
                Ok(exe) => LocalScheduler::new(&spec).measured_by(exe),
                Err(_) => LocalScheduler::new(&spec),
            };
            AnySched::Local(Box::new(sched))
        }
        BackendKind::Lsf => {
            let transport = transport(home, meta.host.as_deref(), &spec).await?;
            let mode = match known.bjobs_mode {
                Some(m) => m,
                None => {
                    let mode = lsf::probe(&transport, &[]).await?.mode;
                    probed.bjobs_mode = Some(mode);
                    mode
                }
            };
            let jobs = cluster_jobs(home, meta)?;
            AnySched::Lsf(Box::new(
                LsfScheduler::new(
                    transport,
                    &spec,
                    mode,
                    &meta.id,
                    &jobs,
                    meta.cluster_dir.is_some(),
                    clock.clone(),
                )
                .fenced(next_generation(home, meta)?),
            ))
        }
        BackendKind::Slurm => {
            let transport = transport(home, meta.host.as_deref(), &spec).await?;
            let facts = match known.slurm {
                Some(f) => f,
                None => {
                    let f = slurm::probe(&transport).await?.facts();
                    probed.slurm = Some(f);
                    f
                }
            };
            let jobs = cluster_jobs(home, meta)?;
            AnySched::Slurm(Box::new(
                SlurmScheduler::new(
                    transport,
                    &spec,
                    facts,
                    &jobs,
                    meta.cluster_dir.is_some(),
                    clock.clone(),
                )
                .fenced(next_generation(home, meta)?),
            ))
        }
    };
    Ok((sched, probed))
}

/// This bsweep's generation of the sweep: more than the last, kept durably before the
/// scheduler is used (the caller holds the sweep, so no other bsweep counts at the same time).
/// It is at least the time in milliseconds, so a lost count still comes after every earlier
/// bsweep; the count keeps it growing should the clock go back.
fn next_generation(home: &Home, meta: &SweepMeta) -> Result<u64, AppError> {
    use std::io::Write as _;
    let path = home.sweep(&meta.name)?.generation();
    let last: u64 = std::fs::read_to_string(&path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let next = (last + 1).max(now_ms);
    let tmp = path.with_extension("tmp");
    (|| {
        let mut f = std::fs::File::create(&tmp)?;
        writeln!(f, "{next}")?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    })()
    .map_err(super::io("write", &path))?;
    Ok(next)
}

/// The sweep's directory where its jobs run: on the cluster, or this machine's.
pub fn cluster_jobs(home: &Home, meta: &SweepMeta) -> Result<JobPaths, AppError> {
    Ok(match &meta.cluster_dir {
        Some(d) => JobPaths::new(d.into()),
        None => home.sweep(&meta.name)?.jobs(),
    })
}

/// Records what was learned about the sweep's cluster.
pub fn remember(store: &Store, known: &Known) -> Result<(), AppError> {
    if let Some(mode) = known.bjobs_mode {
        store.put_setting(
            BJOBS_MODE_SETTING,
            &serde_json::to_string(&mode).unwrap_or_default(),
        )?;
    }
    if let Some(facts) = known.slurm {
        store.put_setting(
            slurm::FACTS_SETTING,
            &serde_json::to_string(&facts).unwrap_or_default(),
        )?;
    }
    Ok(())
}

/// The engine of an opened sweep, with its scheduler.
pub async fn engine(
    store: Store,
    reporter: Box<dyn Reporter>,
) -> Result<Engine<AnySched>, AppError> {
    let clock = Clock::system();
    let sched = scheduler(&store, &clock).await?;
    Ok(Engine::new(store, sched, reporter, clock)?)
}
