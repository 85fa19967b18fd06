//! The Slurm scheduler against a fake transport that answers with real Slurm outputs (captures
//! from this project's Slurm in `tests/fixtures/slurm-sched/` and `tests/fixtures/slurm/`):
//! what it runs, and what it makes of the answers.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::path::PathBuf;

use super::*;
use crate::model::State;
use crate::sched::JobInfo;
use crate::transport::{CmdOutput, TransportError};

/// One command's answer: stdout, stderr, exit code (`None`: the batch was cut before it).
type Answer = (String, String, Option<i32>);

/// Answers each round trip with the next prepared list of command answers, framed as
/// `batch_script` frames them, and keeps the scripts it was given.
#[derive(Default)]
struct Fake {
    replies: RefCell<VecDeque<Vec<Answer>>>,
    scripts: RefCell<Vec<String>>,
}

impl Fake {
    fn reply(&self, answers: Vec<Answer>) {
        self.replies.borrow_mut().push_back(answers);
    }
}

impl Transport for &Fake {
    async fn run(&self, script: &str, _stdin: &[u8]) -> Result<CmdOutput, TransportError> {
        self.scripts.borrow_mut().push(script.to_string());
        let answers =
            self.replies
                .borrow_mut()
                .pop_front()
                .ok_or_else(|| TransportError::Connection {
                    place: "fake".into(),
                    message: "no reply prepared".into(),
                })?;
        let mut stdout = String::new();
        for (i, (o, e, code)) in answers.iter().enumerate() {
            for l in o.lines() {
                stdout.push_str(&format!("O{i} {l}\n"));
            }
            for l in e.lines() {
                stdout.push_str(&format!("E{i} {l}\n"));
            }
            if let Some(c) = code {
                stdout.push_str(&format!("R{i} {c}\n"));
            }
        }
        Ok(CmdOutput {
            stdout,
            stderr: String::new(),
            code: Some(0),
        })
    }

    fn place(&self) -> String {
        "fake".into()
    }
}

/// A capture's stdout, stderr and exit code.
fn cap(text: &str) -> Answer {
    let section = |from: &str, to: &str| {
        let a = text.find(from).expect("section") + from.len();
        let b = text[a..].find(to).expect("section end") + a;
        text[a..b].to_string()
    };
    let code = section("--- exit code: ", "\n").trim().parse().ok();
    (
        section("--- stdout:\n", "--- stderr:"),
        section("--- stderr:\n", "--- exit code:"),
        code,
    )
}

fn said(stdout: &str, stderr: &str, code: i32) -> Answer {
    (stdout.into(), stderr.into(), Some(code))
}

macro_rules! fixture {
    ($name:literal) => {
        cap(include_str!(concat!(
            "../../../tests/fixtures/slurm-sched/",
            $name,
            ".txt"
        )))
    };
    (shared $name:literal) => {
        cap(include_str!(concat!(
            "../../../tests/fixtures/slurm/",
            $name,
            ".txt"
        )))
    };
}

const T0: f64 = 1_796_120_000.0;

fn spec(slurm: &str) -> Spec {
    let src = format!(
        "name = \"s\"\nbackend = \"slurm\"\ncommand = \"echo {{x}}\"\n[grid]\nx = [1, 2, 3]\n[slurm]\n{slurm}"
    );
    Spec::from_toml(&src, std::path::Path::new("/w/s.toml")).expect("spec")
}

fn sched<'a>(fake: &'a Fake, clock: &Clock, accounting: bool) -> SlurmScheduler<&'a Fake> {
    let s = spec("partitions = [\"short\", \"long\"]\nsettle = 8\n");
    let facts = Facts {
        max_array_size: Some(1001),
        accounting,
    };
    SlurmScheduler::new(
        fake,
        &s,
        facts,
        &JobPaths::new("/c/s".into()),
        false,
        clock.clone(),
    )
}

fn job(id: JobId, name: &str, submitted: f64) -> JobRef {
    JobRef {
        job_id: id,
        job_name: name.to_string(),
        attempt: 1,
        out_dir: PathBuf::from("/c/s/out/00000"),
        report: PathBuf::from("/c/s/out/00000/stdout.txt"),
        submitted: Some(submitted),
    }
}

fn sub(name: &str, target: usize) -> Submission {
    Submission {
        index: 0,
        attempt: 1,
        job_name: name.to_string(),
        script_path: PathBuf::from(format!("/c/s/scripts/{name}.sh")),
        out_dir: PathBuf::from("/c/s/out/00000"),
        target,
        files: Vec::new(),
        dirs: Vec::new(),
    }
}

fn known(seen: &HashMap<JobId, Seen>, id: &JobId) -> JobInfo {
    match seen.get(id) {
        Some(Seen::Known(i)) => i.clone(),
        other => panic!("{id}: {other:?}"),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn submissions_say_what_became_of_each_job() {
    let fake = Fake::default();
    let clock = Clock::manual(T0);
    let mut s = sched(&fake, &clock, true);
    fake.reply(vec![
        fixture!(shared "01-sbatch-parsable-ok"),
        fixture!(shared "03-sbatch-bad-partition"),
        said(
            "",
            "sbatch: error: Batch job submission failed: Unable to contact slurm controller (connect failure)\n",
            1,
        ),
        said(
            "",
            "sbatch: error: Batch job submission failed: Socket timed out on send/recv operation\n",
            1,
        ),
        said("Welcome\n", "", 0),
        // The batch was cut here: no exit code.
        ("".into(), "".into(), None),
    ]);
    let batch: Vec<Submission> = (0..6)
        .map(|i| sub(&format!("bsw-x-0000{i}-1"), i % 2))
        .collect();
    let r = s.submit(&batch).await;
    let script = fake.scripts.borrow()[0].clone();
    assert!(
        script.contains("sbatch --parsable < /c/s/scripts/bsw-x-00000-1.sh"),
        "{script}"
    );
    assert!(
        script.contains("flock -w 900 9"),
        "submissions hold the submit lock"
    );
    assert!(
        script.contains("unset SBATCH_JOB_NAME SBATCH_OUTPUT"),
        "{script}"
    );
    assert!(
        script.contains("SBATCH_PARTITION"),
        "the file names partitions"
    );
    let ok = r[0].as_ref().expect("accepted");
    assert_eq!(ok.queue.as_deref(), Some("short"));
    assert!(!ok.job_id.job().is_empty() && ok.job_id.job().bytes().all(|b| b.is_ascii_digit()));
    assert!(
        matches!(&r[1], Err(SubmitError::Refused { said }) if said.contains("Invalid partition name specified")),
        "{:?}",
        r[1]
    );
    assert!(
        matches!(&r[2], Err(SubmitError::Retry { .. })),
        "{:?}",
        r[2]
    );
    assert!(
        matches!(&r[3], Err(SubmitError::Unanswered { .. })),
        "{:?}",
        r[3]
    );
    assert!(
        matches!(&r[4], Err(SubmitError::Unanswered { .. })),
        "exit 0 without an id may hide a job: {:?}",
        r[4]
    );
    assert!(
        matches!(&r[5], Err(SubmitError::Unanswered { .. })),
        "{:?}",
        r[5]
    );
}

/// The jobs of the recording: 71 done, 72 failed (exit 3), 73 running, array 74 with element
/// 1 running and 2, 3 pending.
fn recorded_jobs() -> Vec<JobRef> {
    let old = T0 - 60.0;
    vec![
        job(JobId::new("71"), "rec-w2-done", old),
        job(JobId::new("72"), "rec-w2-fail", old),
        job(JobId::new("73"), "rec-w2-run", old),
        job(JobId::element("74", 1), "rec-w2-array[1]", old),
        job(JobId::element("74", 2), "rec-w2-array[2]", old),
        job(JobId::element("74", 3), "rec-w2-array[3]", old),
    ]
}

#[tokio::test(flavor = "current_thread")]
async fn a_poll_reads_squeue_then_sacct_for_the_jobs_that_ended() {
    let fake = Fake::default();
    let clock = Clock::manual(T0);
    let mut s = sched(&fake, &clock, true);
    fake.reply(vec![
        fixture!("01-squeue-bsweep-format"),
        fixture!("08-date-z"),
    ]);
    fake.reply(vec![fixture!("02-sacct-steps-bsweep-format")]);
    let jobs = recorded_jobs();
    let seen = s.status(&jobs).await.expect("a poll");
    let scripts = fake.scripts.borrow().clone();
    assert_eq!(scripts.len(), 2, "one round trip each for squeue and sacct");
    assert!(
        scripts[0].contains("squeue -h -r -t all -j '71,72,73,74' -o"),
        "elements are asked for through their array: {}",
        scripts[0]
    );
    assert!(scripts[0].contains("export SLURM_TIME_FORMAT=standard"));
    assert!(
        scripts[1].contains("sacct -P -n -j '71,72' -o"),
        "{}",
        scripts[1]
    );

    let done = known(&seen, &JobId::new("71"));
    assert_eq!((done.state, done.exit_code), (State::Done, Some(0)));
    assert_eq!(done.run_seconds, Some(3.0));
    assert_eq!(
        done.max_mem_mb,
        Some(66112.0 / 1024.0),
        "MaxRSS of the batch step"
    );
    // 2026-12-01T10:29:17 and :20, UTC (date +%z said +0000).
    assert_eq!(
        (done.started, done.ended),
        (Some(1_796_120_957.0), Some(1_796_120_960.0))
    );
    let failed = known(&seen, &JobId::new("72"));
    assert_eq!((failed.state, failed.exit_code), (State::Failed, Some(3)));
    assert_eq!(known(&seen, &JobId::new("73")).state, State::Running);
    assert_eq!(
        known(&seen, &JobId::element("74", 1)).host.as_deref(),
        Some("vm")
    );
    assert_eq!(known(&seen, &JobId::element("74", 3)).state, State::Pending);

    // The offset is read once: the next poll asks squeue only.
    fake.reply(vec![fixture!("01-squeue-bsweep-format")]);
    fake.reply(vec![fixture!("02-sacct-steps-bsweep-format")]);
    s.status(&jobs).await.expect("a poll");
    assert!(!fake.scripts.borrow()[2].contains("date +%z"));
}

#[tokio::test(flavor = "current_thread")]
async fn a_job_squeue_has_purged_ends_from_sacct_and_a_job_neither_knows_is_missing() {
    let fake = Fake::default();
    let clock = Clock::manual(T0);
    let mut s = sched(&fake, &clock, true);
    // Alone, purged ids make squeue fail "Invalid job id specified": none known, not down.
    fake.reply(vec![
        fixture!(shared "11-squeue-purged-alone"),
        said("+0000\n", "", 0),
    ]);
    fake.reply(vec![fixture!("02-sacct-steps-bsweep-format")]);
    let jobs = vec![
        job(JobId::new("72"), "a", T0 - 60.0),
        job(JobId::new("99"), "b", T0 - 60.0),
        // Just submitted: squeue and sacct may not show it yet.
        job(JobId::new("100"), "c", T0 - 1.0),
    ];
    let seen = s.status(&jobs).await.expect("a poll");
    assert_eq!(known(&seen, &JobId::new("72")).exit_code, Some(3));
    assert_eq!(seen.get(&JobId::new("99")), Some(&Seen::Missing));
    assert_eq!(seen.get(&JobId::new("100")), None, "no news");
}

#[tokio::test(flavor = "current_thread")]
async fn an_end_squeue_shows_before_sacct_waits_for_sacct_up_to_settle() {
    let fake = Fake::default();
    let clock = Clock::manual(T0);
    let mut s = sched(&fake, &clock, true);
    let jobs = vec![job(JobId::new("71"), "rec-w2-done", T0 - 60.0)];
    for _ in 0..2 {
        fake.reply(vec![
            fixture!("01-squeue-bsweep-format"),
            said("+0000\n", "", 0),
        ]);
        // sacct lags: nothing yet.
        fake.reply(vec![fixture!(shared "17-sacct-unknown-id")]);
    }
    let seen = s.status(&jobs).await.expect("a poll");
    assert!(seen.is_empty(), "waiting for sacct: {seen:?}");
    clock.advance(9.0);
    let seen = s.status(&jobs).await.expect("a poll");
    let info = known(&seen, &JobId::new("71"));
    assert_eq!(
        (info.state, info.exit_code),
        (State::Done, Some(0)),
        "squeue's word"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn without_accounting_squeue_decides_at_once() {
    let fake = Fake::default();
    let clock = Clock::manual(T0);
    let mut s = sched(&fake, &clock, true);
    fake.reply(vec![
        fixture!("01-squeue-bsweep-format"),
        said("+0000\n", "", 0),
    ]);
    fake.reply(vec![said(
        "",
        "sacct: error: Slurm accounting storage is disabled\n",
        1,
    )]);
    let jobs = vec![job(JobId::new("72"), "rec-w2-fail", T0 - 60.0)];
    let seen = s.status(&jobs).await.expect("a poll");
    assert!(!s.facts().accounting, "learned");
    let info = known(&seen, &JobId::new("72"));
    assert_eq!((info.state, info.exit_code), (State::Failed, None));
}

#[tokio::test(flavor = "current_thread")]
async fn a_failing_squeue_or_sacct_is_no_answer() {
    let fake = Fake::default();
    let clock = Clock::manual(T0);
    let mut s = sched(&fake, &clock, true);
    let down = said(
        "",
        "slurm_load_jobs error: Unable to contact slurm controller (connect failure)\n",
        1,
    );
    fake.reply(vec![down, said("+0000\n", "", 0)]);
    let jobs = recorded_jobs();
    let e = s.status(&jobs).await.expect_err("no answer");
    assert!(e.to_string().contains("squeue failed on fake"), "{e}");
    fake.reply(vec![fixture!("01-squeue-bsweep-format")]);
    fake.reply(vec![said(
        "",
        "sacct: error: Problem talking to the database: Connection refused\n",
        1,
    )]);
    let e = s.status(&jobs).await.expect_err("no answer");
    assert!(e.to_string().contains("sacct failed"), "{e}");
}

#[tokio::test(flavor = "current_thread")]
async fn jobs_are_found_by_name_elements_through_their_array() {
    let fake = Fake::default();
    let clock = Clock::manual(T0);
    let mut s = sched(&fake, &clock, true);
    fake.reply(vec![fixture!("03-squeue-name"), fixture!("04-sacct-name")]);
    let jobs = vec![
        job(JobId::new(""), "rec-w2-done", T0 - 600.0),
        job(JobId::new(""), "rec-w2-array[1]", T0 - 60.0),
        job(JobId::new(""), "rec-w2-array[3]", T0 - 60.0),
        job(JobId::new(""), "rec-w2-nosuch", T0 - 60.0),
    ];
    let found = s.find_by_name(&jobs).await.expect("asked");
    let script = fake.scripts.borrow()[0].clone();
    assert!(script.contains("flock -w 900 9"), "under the submit lock");
    assert!(
        script.contains("--name 'rec-w2-done,rec-w2-array,rec-w2-nosuch'"),
        "{script}"
    );
    assert!(
        script.contains("-S now-4200"),
        "back to the oldest job: {script}"
    );
    assert_eq!(found.get("rec-w2-done"), Some(&JobId::new("71")));
    assert_eq!(found.get("rec-w2-array[1]"), Some(&JobId::element("74", 1)));
    assert_eq!(found.get("rec-w2-array[3]"), Some(&JobId::element("74", 3)));
    assert_eq!(found.get("rec-w2-nosuch"), None);

    // "Could not ask" is never "not found".
    fake.reply(vec![
        fixture!("03-squeue-name"),
        said(
            "",
            "sacct: error: Problem talking to the database: Connection refused\n",
            1,
        ),
    ]);
    assert!(s.find_by_name(&jobs).await.is_err());
}

#[tokio::test(flavor = "current_thread")]
async fn one_scancel_cancels_many_jobs_and_elements() {
    let fake = Fake::default();
    let clock = Clock::manual(T0);
    let mut s = sched(&fake, &clock, true);
    fake.reply(vec![fixture!("10-scancel-many")]);
    let jobs = vec![
        job(JobId::new("73"), "a", T0),
        job(JobId::element("74", 2), "b[2]", T0),
        job(JobId::element("74", 3), "b[3]", T0),
    ];
    s.cancel(&jobs).await.expect("cancelled");
    assert!(fake.scripts.borrow()[0].contains("scancel 73 74_2 74_3"));
    fake.reply(vec![said(
        "",
        "scancel: error: Unable to contact slurm controller\n",
        1,
    )]);
    assert!(s.cancel(&jobs).await.is_err());
}

#[tokio::test(flavor = "current_thread")]
async fn cancelled_pending_tasks_end_through_sacct() {
    // After `scancel 74_2 74_3`, squeue shows the array's own row `74` and no element rows
    // for them; sacct has `74_[2-3%1]` CANCELLED by 0.
    let fake = Fake::default();
    let clock = Clock::manual(T0);
    let mut s = sched(&fake, &clock, true);
    fake.reply(vec![
        fixture!("11-squeue-after-cancel"),
        said("+0000\n", "", 0),
    ]);
    fake.reply(vec![fixture!("12-sacct-steps-after-cancel")]);
    let jobs = vec![
        job(JobId::new("73"), "rec-w2-run", T0 - 60.0),
        job(JobId::element("74", 1), "rec-w2-array[1]", T0 - 60.0),
        job(JobId::element("74", 2), "rec-w2-array[2]", T0 - 60.0),
    ];
    let seen = s.status(&jobs).await.expect("a poll");
    let run = known(&seen, &JobId::new("73"));
    assert_eq!(run.state, State::Cancelled);
    assert_eq!(run.reason.as_deref(), Some("CANCELLED by 0"));
    assert_eq!(known(&seen, &JobId::element("74", 1)).state, State::Running);
    assert_eq!(
        known(&seen, &JobId::element("74", 2)).state,
        State::Cancelled
    );
}

#[tokio::test(flavor = "current_thread")]
async fn pending_counts_per_partition() {
    let fake = Fake::default();
    let clock = Clock::manual(T0);
    let mut s = sched(&fake, &clock, true);
    fake.reply(vec![fixture!("09-squeue-pending-count")]);
    assert_eq!(s.pending_per_target().await, Some(vec![0, 2]));
}

#[test]
fn arrays_fit_the_clusters_limit() {
    let s = spec("array = true\nmax_array_size = 5000\n");
    let on = |max| {
        profile_on(
            &s,
            &Facts {
                max_array_size: max,
                accounting: true,
            },
        )
        .arrays
    };
    assert_eq!(profile(&s).arrays, Some(5000));
    assert_eq!(on(Some(1001)), Some(1000));
    assert_eq!(on(Some(1)), None, "MaxArraySize 1 allows index 0 only");
    assert_eq!(on(None), Some(5000));
    // Without max_array_size, the cluster's limit decides.
    let s = spec("array = true\n");
    let on = |max| {
        profile_on(
            &s,
            &Facts {
                max_array_size: max,
                accounting: true,
            },
        )
        .arrays
    };
    assert_eq!(on(Some(20_001)), Some(20_000));
    assert_eq!(on(None), Some(1000), "plan's default");
    assert_eq!(
        slurm_id(&JobId::element("16", 2))
            .map(|i| i.to_string())
            .as_deref(),
        Some("16_2")
    );
    assert_eq!(slurm_id(&JobId::new("")), None);
}

#[tokio::test(flavor = "current_thread")]
async fn a_failure_squeue_shows_waits_longer_for_its_exit_code() {
    let fake = Fake::default();
    let clock = Clock::manual(T0);
    let mut s = sched(&fake, &clock, true);
    let jobs = vec![job(JobId::new("72"), "rec-w2-fail", T0 - 60.0)];
    for _ in 0..3 {
        fake.reply(vec![
            fixture!("01-squeue-bsweep-format"),
            said("+0000\n", "", 0),
        ]);
        fake.reply(vec![fixture!(shared "17-sacct-unknown-id")]);
    }
    assert!(s.status(&jobs).await.expect("a poll").is_empty());
    clock.advance(60.0);
    assert!(
        s.status(&jobs).await.expect("a poll").is_empty(),
        "past settle, still waiting for the exit code"
    );
    clock.advance(600.0);
    let info = known(&s.status(&jobs).await.expect("a poll"), &JobId::new("72"));
    assert_eq!(
        (info.state, info.exit_code),
        (State::Failed, None),
        "squeue's word at last"
    );
}
