//! Reporters of the engine's events: a progress bar on a terminal, plain lines for a log (the
//! background follower's), or JSON lines for scripts.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::engine::events::{Event, Reporter};
use crate::model::Counts;
use crate::spec::BackendKind;

/// Shows progress for people: a bar on a terminal, sparse lines otherwise (none with `quiet`),
/// and every note.
pub struct Progress {
    bar: Option<ProgressBar>,
    quiet: bool,
    sweep: String,
    backend: BackendKind,
    last_line: String,
    last_print: Option<Instant>,
    /// The last note, so that a failure repeated every poll is said once.
    last_note: String,
}

impl Progress {
    pub fn new(sweep: &str, backend: BackendKind, total: u64, quiet: bool) -> Self {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} finished · {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Self {
            bar,
            quiet,
            sweep: sweep.to_string(),
            backend,
            last_line: String::new(),
            last_print: None,
            last_note: String::new(),
        }
    }

    fn counts(&mut self, counts: &Counts) {
        let line = counts.to_string();
        match &self.bar {
            Some(bar) => {
                bar.set_position(counts.finished());
                bar.set_message(line);
            }
            None if self.quiet => {}
            None => {
                // A line when the counts change, at most one every 2 s.
                if line != self.last_line
                    && self
                        .last_print
                        .is_none_or(|t| t.elapsed() >= Duration::from_secs(2))
                {
                    say(&line);
                    self.last_line = line;
                    self.last_print = Some(Instant::now());
                }
            }
        }
    }

    /// A message that must not be lost in the bar (warnings, disconnects); said once while it
    /// repeats.
    pub fn note(&mut self, msg: &str) {
        if msg == self.last_note {
            return;
        }
        self.last_note = msg.to_string();
        match &self.bar {
            Some(bar) => bar.println(msg),
            None => say(msg),
        }
    }

    fn fix_hint(&self) -> String {
        match self.backend {
            BackendKind::Lsf => format!(
                ". Fix that target in the sweep file's [lsf] table, then `bsweep retry {} --failed --spec FILE`",
                self.sweep
            ),
            BackendKind::Slurm => format!(
                ". Fix that target in the sweep file's [slurm] table, then `bsweep retry {} --failed --spec FILE`",
                self.sweep
            ),
            BackendKind::Local => String::new(),
        }
    }
}

/// A line on stderr; a closed stderr is not worth failing for.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

impl Reporter for Progress {
    fn event(&mut self, e: &Event<'_>) {
        let chain = crate::error_chain;
        match e {
            Event::Counts(c) => self.counts(c),
            Event::Adopted { jobs } => {
                self.note(&format!(
                    "adopted {jobs} job(s) whose submission had not been recorded"
                ));
            }
            Event::Unanswered { point, said } => self.note(&format!(
                "point {point}: no answer from the scheduler, will check by name: {said}"
            )),
            Event::Deferred { point, said } => self.note(&format!(
                "point {point}: the scheduler refused for now, will retry: {said}"
            )),
            Event::TargetRefused {
                point,
                target,
                said,
            } => {
                let hint = self.fix_hint();
                self.note(&format!(
                    "point {point} was refused by target {target} (\"{said}\"); no more jobs go there{hint}"
                ))
            }
            Event::PollFailed(err) => self.note(&format!(
                "disconnected or no answer from the scheduler, retrying: {}",
                chain(*err)
            )),
            Event::LookupFailed(err) => self.note(&format!(
                "warning: could not look up unfinished submissions, will try again: {}",
                chain(*err)
            )),
            Event::AwaitingLogin { host } => self.note(&format!(
                "the connection to {host} is gone, and logging in there needs you: run `bsweep login {host}` in a terminal; this sweep waits for it (nothing is submitted meanwhile, and bsweep does not try to log in) and goes on by itself"
            )),
            Event::LoginBack { host } => {
                self.note(&format!("connected to {host} again; following goes on"))
            }
            Event::CancelRequested => self.note("cancel requested: cancelling the sweep"),
            Event::CancelFailed(err) => self.note(&format!(
                "warning: cancelling failed, will try again: {}",
                chain(*err)
            )),
            Event::Retrying { points } => {
                self.note(&format!("retrying {points} point(s)"));
            }
            Event::Lost { point, job } => self.note(&format!(
                "point {point}: job {job} is lost (neither the scheduler nor its files know it); `bsweep retry {} --failed` runs it again",
                self.sweep
            )),
            Event::HostExcluded { host, points } => self.note(&format!(
                "host {host} failed jobs of {points} point(s): the sweep's later jobs leave it out"
            )),
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// One JSON object per event on stdout (`--json`), for scripts; counts only when they change.
#[derive(Default)]
pub struct JsonLines {
    last: Option<Counts>,
}

impl Reporter for JsonLines {
    fn event(&mut self, e: &Event<'_>) {
        let chain = |e: &crate::sched::SchedError| crate::error_chain(e);
        let v = match e {
            Event::Counts(c) => {
                if self.last.as_ref() == Some(*c) {
                    return;
                }
                self.last = Some((*c).clone());
                serde_json::json!({"event": "counts", "counts": c})
            }
            Event::Adopted { jobs } => serde_json::json!({"event": "adopted", "jobs": jobs}),
            Event::Unanswered { point, said } => {
                serde_json::json!({"event": "unanswered", "point": point, "said": said})
            }
            Event::Deferred { point, said } => {
                serde_json::json!({"event": "deferred", "point": point, "said": said})
            }
            Event::TargetRefused {
                point,
                target,
                said,
            } => {
                serde_json::json!({"event": "target_refused", "point": point, "target": target, "said": said})
            }
            Event::PollFailed(e) => serde_json::json!({"event": "poll_failed", "error": chain(e)}),
            Event::LookupFailed(e) => {
                serde_json::json!({"event": "lookup_failed", "error": chain(e)})
            }
            Event::AwaitingLogin { host } => serde_json::json!({
                "event": "awaiting_login",
                "host": host,
                "run": format!("bsweep login {host}"),
            }),
            Event::LoginBack { host } => serde_json::json!({"event": "login_back", "host": host}),
            Event::CancelRequested => serde_json::json!({"event": "cancel_requested"}),
            Event::CancelFailed(e) => {
                serde_json::json!({"event": "cancel_failed", "error": chain(e)})
            }
            Event::Retrying { points } => {
                serde_json::json!({"event": "retrying", "points": points})
            }
            Event::Lost { point, job } => {
                serde_json::json!({"event": "lost", "point": point, "job": job})
            }
            Event::HostExcluded { host, points } => {
                serde_json::json!({"event": "host_excluded", "host": host, "points": points})
            }
        };
        let _ = writeln!(std::io::stdout(), "{v}");
    }
}
