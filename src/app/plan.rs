//! `plan`: what a sweep file would submit, point by point, without touching anything.

use std::path::{Path, PathBuf};

use super::{AppError, Ctx, check_bound, check_size};
use crate::engine::placement;
use crate::layout::{DEFAULT_REMOTE_DIR, JobPaths};
use crate::model::{Overrides, names};
use crate::sched::{Dialect, Profile, script};
use crate::spec::{Point, Spec, Value};

/// The job id `plan` shows: the real one is drawn at launch.
pub const PLAN_ID: &str = "xxxxxx";

/// What `plan` found.
pub struct Plan {
    pub spec: Spec,
    pub count: u64,
    pub profile: Profile,
    /// Points per target label, in the profile's order.
    pub distribution: Vec<(String, u64)>,
    /// The sweep's directory on the cluster when it runs there over SSH (`~` stands for the
    /// remote home, known only once connected).
    pub remote: Option<PathBuf>,
    jobs: JobPaths,
}

/// One job as it would be submitted.
pub struct PlannedJob {
    pub index: u64,
    pub params: Vec<(String, Value)>,
    pub target: String,
    pub job_name: String,
    pub script: String,
}

pub fn plan(ctx: &Ctx, file: &Path, yes: bool) -> Result<Plan, AppError> {
    let spec = Spec::load(file)?;
    check_bound(&spec, yes)?;
    let count = spec.count();
    check_size(count, yes)?;
    let profile = Profile::of(&spec);
    let labels = profile.labels();
    let distribution = labels
        .into_iter()
        .zip(placement::distribution(&profile, count))
        .collect();
    let remote = spec
        .cluster
        .as_ref()
        .filter(|_| spec.backend != crate::spec::BackendKind::Local)
        .map(|c| {
            PathBuf::from(c.remote_dir.as_deref().unwrap_or(DEFAULT_REMOTE_DIR)).join(&spec.name)
        });
    let jobs = match &remote {
        Some(r) => JobPaths::new(r.clone()),
        None => ctx.home.sweep(&spec.name)?.jobs(),
    };
    Ok(Plan {
        spec,
        count,
        profile,
        distribution,
        remote,
        jobs,
    })
}

impl Plan {
    /// The first `n` jobs, rendered one at a time (a plan of a million points stays small).
    pub fn jobs(&self, n: u64) -> impl Iterator<Item = PlannedJob> + '_ {
        let dialect = Dialect::of(self.spec.backend);
        let workdir_base = self.remote.as_ref().map(|_| PathBuf::from("~"));
        self.spec
            .points()
            .zip(placement::plan_targets(&self.profile))
            .take(n as usize)
            .map(move |(p, t): (Point, usize)| {
                let name = names::job(PLAN_ID, p.index, 1);
                let out = self.jobs.out_dir(p.index);
                let script = dialect.job_script(
                    &self.spec,
                    &script::Job {
                        sweep_name: &self.spec.name,
                        sweep_id: PLAN_ID,
                        job_name: &name,
                        attempt: 1,
                        point: &p,
                        out_dir: &out,
                        target: &self.profile.targets[t],
                        workdir_base: workdir_base.as_deref(),
                        overrides: &Overrides::default(),
                    },
                );
                PlannedJob {
                    index: p.index,
                    params: p.params,
                    target: self.profile.label(t),
                    job_name: name,
                    script,
                }
            })
    }
}
