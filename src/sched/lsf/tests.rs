//! Tests of the LSF scheduler's pure parts: scripts, fences, readings merged.

use super::info::cause_of_term;
use super::parse::Outcome;
use super::*;
use crate::model::Cause;

/// A submit lock's path in `dir`, as the lock scripts take it.
fn lock_in(dir: &tempfile::TempDir) -> String {
    dir.path()
        .join("submit.lock")
        .to_string_lossy()
        .into_owned()
}

/// Runs a script with bash, as a transport would.
fn bash(script: &str) -> std::process::Output {
    std::process::Command::new("bash")
        .arg("-c")
        .arg(script)
        .output()
        .unwrap()
}

#[test]
fn a_batch_of_an_earlier_bsweep_does_not_run_after_a_later_one_took_over() {
    let dir = tempfile::tempdir().unwrap();
    let lock = lock_in(&dir);
    let ran = dir.path().join("ran");
    let run = |generation: u64, what: &str| {
        let body = format!("echo {what} >> {}", ran.display());
        let out = bash(&locked(&lock, generation, &body));
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // The first claim finds no claim file, and says nothing about it.
    assert_eq!(run(5, "five"), (Some(0), String::new()));
    // The killed bsweep's late batch: refused, and it says why.
    let (code, err) = run(3, "three");
    assert_eq!(code, Some(75));
    assert!(
        err.contains("a later bsweep of this sweep (generation 5"),
        "{err}"
    );
    assert_eq!(run(5, "five-again").0, Some(0));
    assert_eq!(run(8, "eight").0, Some(0));
    assert_eq!(run(5, "five-late").0, Some(75));
    // No fence asked for: it runs whatever the claim.
    assert_eq!(run(0, "unfenced").0, Some(0));
    assert_eq!(
        std::fs::read_to_string(&ran).unwrap(),
        "five\nfive-again\neight\nunfenced\n"
    );
    assert_eq!(
        std::fs::read_to_string(format!("{lock}.gen")).unwrap(),
        "8\n"
    );
}

#[test]
fn a_lookup_lets_the_scheduler_settle_after_the_last_submission_batch_ended() {
    let dir = tempfile::tempdir().unwrap();
    let lock = lock_in(&dir);
    let run = |script: String| {
        let t = std::time::Instant::now();
        let out = bash(&script);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            t.elapsed(),
        )
    };
    // No batch ever ran: the lookup goes at once.
    let (code, said, took) = run(locked_lookup(&lock, 0, 30.0, "echo looked"));
    assert_eq!((code, said.as_str()), (Some(0), "looked\n"));
    assert!(took.as_secs() < 30, "{took:?}");
    // A batch that exits early still marks its end, and keeps its exit status.
    let (code, said, _) = run(locked_submission(&lock, 0, "echo submitted; exit 4"));
    assert_eq!((code, said.as_str()), (Some(4), "submitted\n"));
    let end: u64 = std::fs::read_to_string(format!("{lock}.end"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Right after it, a lookup waits out the settle time: 1.2 s rounded up, and a second more
    // for the rounding of the second the batch ended in.
    let (code, said, took) = run(locked_lookup(&lock, 0, 1.2, "echo looked"));
    assert_eq!((code, said.as_str()), (Some(0), "looked\n"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        now >= end + 2,
        "looked up at {now}, the batch ended at {end}"
    );
    assert!(took.as_millis() >= 900, "{took:?}");
    // A batch long over: no wait.
    std::fs::write(format!("{lock}.end"), format!("{}\n", end - 100)).unwrap();
    let (_, _, took) = run(locked_lookup(&lock, 0, 30.0, "echo looked"));
    assert!(took.as_secs() < 30, "{took:?}");
}

#[test]
fn lsf_commands_give_up_reaching_down_daemons_unless_the_user_said_otherwise() {
    let tries = |env: Option<&str>| {
        let mut c = std::process::Command::new("bash");
        c.arg("-c").arg(bounded("echo $LSB_NTRIES"));
        match env {
            Some(v) => c.env("LSB_NTRIES", v),
            None => c.env_remove("LSB_NTRIES"),
        };
        String::from_utf8(c.output().unwrap().stdout).unwrap()
    };
    assert_eq!(tries(None), format!("{LSB_NTRIES}\n"));
    assert_eq!(tries(Some("9")), "9\n");
}

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/lsf/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The `TERM_` line of a captured job output, as LSF printed it.
fn term_line(text: &str) -> String {
    text.lines()
        .find(|l| l.starts_with("TERM_"))
        .expect("a TERM_ line")
        .to_string()
}

#[test]
fn termination_reasons_map_to_causes() {
    // The Sanger course's job output of a job killed at its -M limit: exit code 1.
    let memlimit = term_line(&fixture("joboutput-term-memlimit-snippet.txt"));
    let info = info_of_outcome(&Outcome::Term {
        reason: memlimit.clone(),
        code: Some(1),
    });
    assert_eq!(
        (info.cause, info.exit_code),
        (Some(Cause::MemLimit), Some(1))
    );
    assert_eq!(info.reason.as_deref(), Some(memlimit.as_str()));
    // OpenLava's run-limit kill, proved by its bhist -l record.
    let hist = parse::parse_bhist_long(&fixture("openlava-bhist-l-runlimit.txt")).unwrap();
    let info = info_of_outcome(hist[0].outcome.as_ref().expect("an outcome"));
    assert_eq!(info.cause, Some(Cause::RunLimit));
    // bacct -l of a job its owner killed.
    let acct = parse::parse_bhist_long(&fixture("bacct-l-killed-term-owner.txt")).unwrap();
    let info = info_of_outcome(acct[0].outcome.as_ref().expect("an outcome"));
    assert_eq!(info.cause, Some(Cause::Killed));
    assert_eq!(
        cause_of_term("TERM_PREEMPT: job killed after preemption."),
        Cause::Terminated
    );
    let exited = info_of_outcome(&Outcome::Exited { code: 7 });
    assert_eq!(
        (exited.cause, exited.exit_code),
        (Some(Cause::Exit), Some(7))
    );
    assert_eq!(info_of_outcome(&Outcome::Done).cause, None);
}

#[test]
fn a_report_explains_what_bjobs_said_of_an_exit() {
    // bjobs -json of the job: EXIT with an exit code, nothing about why.
    let info = JobInfo {
        exit_code: Some(130),
        host: Some("n1".into()),
        ..JobInfo::new(State::Failed)
    };
    let memlimit = term_line(&fixture("joboutput-term-memlimit-snippet.txt"));
    let told = |o: Outcome| info_of_outcome(&o);
    let info = with_end(
        &info,
        told(Outcome::Term {
            reason: memlimit,
            code: Some(1),
        }),
    );
    // bjobs' exit code and host stand; the report adds why.
    assert_eq!(
        (info.exit_code, info.cause, info.host.as_deref()),
        (Some(130), Some(Cause::MemLimit), Some("n1"))
    );
    assert!(info.reason.as_deref().unwrap().starts_with("TERM_MEMLIMIT"));
    // A table without exit codes (OpenLava) takes the report's.
    let bare = with_end(
        &JobInfo::new(State::Failed),
        told(Outcome::Exited { code: 7 }),
    );
    assert_eq!((bare.exit_code, bare.cause), (Some(7), Some(Cause::Exit)));
    // A report that says done cannot be this failed attempt's.
    let odd = with_end(&JobInfo::new(State::Failed), told(Outcome::Done));
    assert_eq!(odd, JobInfo::new(State::Failed));
}
