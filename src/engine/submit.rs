//! Submitting: ready points in batches, placed by the policy, as single jobs or job arrays.
//! Intents are made durable before the scheduler hears of the jobs, job ids right after.

use std::fs;
use std::path::Path;

use super::events::Event;
use super::{Engine, EngineError};
use crate::layout::JobPaths;
use crate::model::{AttemptRec, Cause, JobId, Overrides, Phase, PointRec, State, names};
use crate::sched::{Accepted, Scheduler, Submission, SubmitError, script};
use crate::spec::Point;

/// What one submission carries: one point, or several as a job array. The points hold their
/// new attempt (the intent) as their last.
struct Unit {
    points: Vec<PointRec>,
    /// Each point's state before its intent, to undo it when the scheduler refuses for now.
    before: Vec<State>,
    target: usize,
    /// The array's job name, for a job array.
    array: Option<String>,
}

impl<S: Scheduler> Engine<S> {
    fn in_flight_per_target(&self) -> Vec<u32> {
        let mut n = vec![0u32; self.placement.len()];
        for a in self.active.values() {
            if let Some(slot) = n.get_mut(a.target) {
                *slot += 1;
            }
        }
        n
    }

    /// The next point never attempted, walking the store from where the last walk stopped.
    fn next_fresh(&mut self) -> Result<Option<PointRec>, EngineError> {
        if self.fresh_done {
            return Ok(None);
        }
        for p in self.store.points_from(self.fresh_from) {
            let p = p?;
            self.fresh_from = p.index + 1;
            if p.attempts.is_empty() {
                return Ok(Some(p));
            }
        }
        self.fresh_done = true;
        Ok(None)
    }

    /// Submits as many ready points as the targets' caps allow, in batches: intents are made
    /// durable before the scheduler is asked, job ids right after.
    pub async fn submit_ready(&mut self) -> Result<usize, EngineError> {
        if self.retry.is_empty() && self.fresh_done {
            return Ok(0);
        }
        if self.placement.wants_pending() {
            let pending = self.sched.pending_per_target().await;
            self.placement.set_pending(pending);
        }
        let mut in_flight = self.in_flight_per_target();
        let mut submitted = 0;
        loop {
            let units = self.next_batch(&mut in_flight)?;
            if units.is_empty() {
                return Ok(submitted);
            }
            let subs = units
                .iter()
                .map(|u| self.write_unit(u))
                .collect::<Result<Vec<_>, _>>()?;
            // The intents are durable before the scheduler hears of the jobs.
            self.save(
                &units
                    .iter()
                    .flat_map(|u| u.points.iter().cloned())
                    .collect::<Vec<_>>(),
            )?;
            for u in &units {
                for (p, &before) in u.points.iter().zip(&u.before) {
                    self.counts.moved(before, State::Unsubmitted);
                    self.active
                        .insert(p.index, p.last().expect("an intent").clone());
                }
            }
            let asked = self.clock.now();
            let results = self.sched.submit(&subs).await;
            self.batch =
                crate::sched::next_batch(self.profile.batch, subs.len(), self.clock.now() - asked);
            let (accepted, backoff) = self.record_results(units, results)?;
            submitted += accepted;
            if backoff {
                // The scheduler is struggling: give it until the next cycle.
                return Ok(submitted);
            }
        }
    }

    /// The units of the next round trip: up to `batch`, placed by the policy within the
    /// targets' caps, one per target that has not accepted a job yet.
    fn next_batch(&mut self, in_flight: &mut [u32]) -> Result<Vec<Unit>, EngineError> {
        let mut units: Vec<Unit> = Vec::new();
        let mut probing = vec![false; self.placement.len()];
        while units.len() < self.batch && !(self.retry.is_empty() && self.fresh_done) {
            // First attempts go as job arrays when asked; retries always go alone.
            let as_array = self.profile.arrays.is_some() && self.retry.is_empty();
            let Some(t) = self.placement.pick(in_flight, &probing, as_array) else {
                break;
            };
            if !self.placement.is_trusted(t) {
                probing[t] = true;
            }
            let unit = if as_array {
                self.take_array(t)?
            } else {
                self.take_single(t)?
            };
            let Some(unit) = unit else { break };
            in_flight[t] += unit.points.len() as u32;
            units.push(unit);
        }
        Ok(units)
    }

    /// Records what the scheduler answered for each unit, durably; returns how many points
    /// were accepted and whether to stop submitting until the next cycle.
    fn record_results(
        &mut self,
        units: Vec<Unit>,
        results: Vec<Result<Accepted, SubmitError>>,
    ) -> Result<(usize, bool), EngineError> {
        let t = self.clock.now();
        let (mut accepted, mut backoff) = (0, false);
        let mut to_save = Vec::new();
        for (mut unit, result) in units.into_iter().zip(results) {
            let first = unit.points[0].index;
            match result {
                Ok(acc) => {
                    self.accepted(&mut unit, &acc, t);
                    accepted += unit.points.len();
                }
                Err(SubmitError::Unanswered { said }) => {
                    // The jobs may exist: keep the intents, a later cycle looks them up by name
                    // before anything is submitted again. A job of a long batch may have been
                    // made just before the batch ended: the scheduler's settle time counts
                    // from then, not from when the intent was written.
                    self.reporter.event(&Event::Unanswered {
                        point: first,
                        said: &said,
                    });
                    for p in &mut unit.points {
                        let index = p.index;
                        if let Some(a) = p.last_mut() {
                            a.submitted = Some(t);
                            self.active.insert(index, a.clone());
                        }
                    }
                    backoff = true;
                }
                Err(SubmitError::Retry { said }) => {
                    // Nothing was submitted: forget the intents and try again next cycle.
                    self.reporter.event(&Event::Deferred {
                        point: first,
                        said: &said,
                    });
                    for (p, &before) in unit.points.iter_mut().zip(&unit.before) {
                        p.attempts.pop();
                        self.active.remove(&p.index);
                        self.counts.moved(State::Unsubmitted, before);
                        self.requeue(p);
                    }
                    backoff = true;
                }
                Err(SubmitError::Refused { said }) => self.refused(&mut unit, &said, t),
            }
            to_save.append(&mut unit.points);
        }
        self.save(&to_save)?;
        Ok((accepted, backoff))
    }

    /// The scheduler took a unit: each point's intent becomes its job (an array's elements
    /// `ID[k]`).
    fn accepted(&mut self, unit: &mut Unit, acc: &Accepted, t: f64) {
        self.placement.trust(unit.target);
        for (k, p) in unit.points.iter_mut().enumerate() {
            let id = match unit.array {
                Some(_) => JobId::element(acc.job_id.job(), k as u32 + 1),
                None => acc.job_id.clone(),
            };
            let index = p.index;
            let a = p.last_mut().expect("an intent");
            a.accept(id, acc.queue.clone(), t);
            a.set_state(acc.state);
            if acc.state == State::Running {
                a.started = Some(t);
            }
            self.counts.moved(State::Unsubmitted, acc.state);
            self.active.insert(index, a.clone());
        }
    }

    /// A target refused a unit for good: its points fail with the scheduler's words, and no
    /// more jobs go there.
    fn refused(&mut self, unit: &mut Unit, said: &str, t: f64) {
        let label = self.profile.label(unit.target);
        self.reporter.event(&Event::TargetRefused {
            point: unit.points[0].index,
            target: &label,
            said: said.trim().trim_end_matches('.'),
        });
        self.placement.disable(unit.target, said.to_string());
        for p in unit.points.iter_mut() {
            let a = p.last_mut().expect("an intent");
            a.error = Some(said.to_string());
            a.cause = Some(Cause::Refused);
            a.end(State::Failed, t);
            self.counts.moved(State::Unsubmitted, State::Failed);
            self.active.remove(&p.index);
        }
    }

    /// A new attempt of one point (a retry first, else the next fresh point) on target `t`.
    fn take_single(&mut self, t: usize) -> Result<Option<Unit>, EngineError> {
        let mut p = match self.next_retry()? {
            Some(p) => p,
            None => match self.next_fresh()? {
                Some(p) => p,
                None => return Ok(None),
            },
        };
        let before = p.state();
        // An attempt that never had a job (refused, cancelled before submission) is replaced,
        // not counted: the job gets the attempt number it would have had.
        let attempt = match p.last() {
            Some(a) if a.job_id.is_none() && a.phase == Phase::Ended => {
                let n = a.attempt;
                p.attempts.pop();
                n
            }
            _ => p.next_attempt(),
        };
        let name = names::job(&self.store.meta().id, p.index, attempt);
        let mut intent = AttemptRec::intent(attempt, name, t, self.clock.now());
        intent.overrides = self.overrides_after(p.last());
        p.attempts.push(intent);
        Ok(Some(Unit {
            points: vec![p],
            before: vec![before],
            target: t,
            array: None,
        }))
    }

    /// What a new attempt asks for: what the retry rules make of the point's last attempt, and
    /// the hosts left out so far.
    fn overrides_after(&self, last: Option<&AttemptRec>) -> Overrides {
        let mut o = last
            .map(|a| self.rules.next_overrides(a))
            .unwrap_or_default();
        o.exclude_hosts = self.hosts.excluded().to_vec();
        o
    }

    /// Up to the profile's array size of fresh points, in order, as one job array.
    fn take_array(&mut self, t: usize) -> Result<Option<Unit>, EngineError> {
        let max = self.profile.arrays.unwrap_or(1).max(1) as usize;
        let mut points = Vec::new();
        while points.len() < max {
            match self.next_fresh()? {
                Some(p) => points.push(p),
                None => break,
            }
        }
        let Some(first) = points.first() else {
            return Ok(None);
        };
        let name = names::array(&self.store.meta().id, first.index, 1);
        let now = self.clock.now();
        let overrides = self.overrides_after(None);
        for (k, p) in points.iter_mut().enumerate() {
            let mut intent = AttemptRec::intent(1, names::element(&name, k as u32 + 1), t, now);
            intent.overrides = overrides.clone();
            p.attempts.push(intent);
        }
        Ok(Some(Unit {
            before: vec![State::Unsubmitted; points.len()],
            points,
            target: t,
            array: Some(name),
        }))
    }

    /// Writes the scripts of a unit (a copy in the local sweep directory always: the record of
    /// what was submitted, and what local jobs run) and returns what to submit.
    fn write_unit(&self, unit: &Unit) -> Result<Submission, EngineError> {
        let singles = unit
            .points
            .iter()
            .map(|p| self.write_script(p))
            .collect::<Result<Vec<_>, _>>()?;
        let Some(name) = &unit.array else {
            return Ok(singles.into_iter().next().expect("a unit has a point"));
        };
        let meta = self.store.meta();
        let indices: Vec<u64> = unit.points.iter().map(|p| p.index).collect();
        let text = self
            .dialect
            .array_script(
                &self.spec,
                &script::Array {
                    sweep_name: &meta.name,
                    sweep_id: &meta.id,
                    array_name: name,
                    indices: &indices,
                    attempt: 1,
                    limit: self.profile.targets[unit.target].max_in_flight,
                    jobs: &self.jobs,
                    target: &self.profile.targets[unit.target],
                    overrides: &unit.points[0].last().expect("an intent").overrides,
                },
            )
            .expect("arrays only for backends that have them");
        let rel = JobPaths::array_script_rel(name);
        self.write_local(&rel, &text)?;
        let reports_rel = JobPaths::array_reports_rel(name);
        if !self.remote {
            let local = self.store.paths().jobs().array_reports(name);
            fs::create_dir_all(&local).map_err(|source| EngineError::Io {
                path: local,
                source,
            })?;
        }
        // The element scripts and out_dirs travel with the array's own submission.
        let mut files = vec![(rel.clone(), text.into_bytes())];
        let mut dirs = vec![reports_rel];
        for s in singles {
            files.extend(s.files);
            dirs.extend(s.dirs);
        }
        Ok(Submission {
            index: indices[0],
            attempt: 1,
            job_name: name.clone(),
            script_path: self.jobs.base().join(rel),
            out_dir: self.jobs.array_reports(name),
            target: unit.target,
            files,
            dirs,
        })
    }

    fn write_script(&self, p: &PointRec) -> Result<Submission, EngineError> {
        let a = p.last().expect("an intent before its script");
        let meta = self.store.meta();
        let out = self.jobs.out_dir(p.index);
        let point = Point {
            index: p.index,
            params: p.params.clone(),
        };
        let text = self.dialect.job_script(
            &self.spec,
            &script::Job {
                sweep_name: &meta.name,
                sweep_id: &meta.id,
                job_name: &a.job_name,
                attempt: a.attempt,
                point: &point,
                out_dir: &out,
                target: &self.profile.targets[a.target],
                workdir_base: meta.remote_home.as_deref().map(Path::new),
                overrides: &a.overrides,
            },
        );
        let rel = JobPaths::script_rel(p.index, a.attempt);
        self.write_local(&rel, &text)?;
        if !self.remote {
            fs::create_dir_all(&out).map_err(|source| EngineError::Io {
                path: out.clone(),
                source,
            })?;
        }
        Ok(Submission {
            index: p.index,
            attempt: a.attempt,
            job_name: a.job_name.clone(),
            script_path: self.jobs.base().join(&rel),
            out_dir: out,
            target: a.target,
            files: vec![(rel, text.into_bytes())],
            dirs: vec![JobPaths::out_rel(p.index)],
        })
    }
}
