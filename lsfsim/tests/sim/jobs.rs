//! Job life cycle: submission, slots, exit codes, output files, arrays, bkill, forgetting.

use crate::common::{Sim, read, same_shape, wait_until};

const TWO_SLOTS: &str = "[[queue]]\nname = \"normal\"\nslots = 2\n";

#[test]
fn stdin_script_with_bsub_lines_is_submitted() {
    let sim = Sim::new("[[queue]]\nname = \"normal\"\n[[queue]]\nname = \"short\"\n");
    let script = "#!/bin/bash\n#BSUB -J hello\n#BSUB -q short\n#BSUB -o out.%J\necho hi\n";
    let r = sim.run_stdin("bsub", &[], script);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stderr, "");
    assert_eq!(r.lines().len(), 1);
    same_shape(
        r"^Job <\d+> is submitted to queue <[^>]+>\.$",
        "bsub-success-osc-queue-short.txt",
        &r.stdout,
    );
    assert!(r.stdout.ends_with("to queue <short>.\n"), "{}", r.stdout);
    let id = crate::common::job_id(&r.stdout).unwrap();
    let rows = sim.rows("jobid job_name queue", &[&id.to_string()]);
    assert_eq!(
        rows[0],
        vec![id.to_string(), "hello".into(), "short".into()]
    );

    // No -q anywhere: the default queue, and the word "default".
    let r = sim.run("bsub", &["true"]);
    same_shape(
        r"^Job <\d+> is submitted to default queue <[^>]+>\.$",
        "bsub-success-default-queue-variants.txt",
        &r.stdout,
    );
    assert!(r.stdout.contains("default queue <normal>"));

    // The command line overrides #BSUB.
    let id = sim.submit(&["-q", "normal", "-J", "other"], script);
    let rows = sim.rows("job_name queue", &[&id.to_string()]);
    assert_eq!(rows[0], vec!["other".to_string(), "normal".into()]);
    sim.wait_stat(id, &["DONE"], 10);
}

#[test]
fn slots_limit_running_jobs_and_pending_ones_start_later() {
    let sim = Sim::new(TWO_SLOTS);
    let ids: Vec<u64> = (0..6).map(|_| sim.submit(&["sleep", "0.6"], "")).collect();
    let r = sim.run("bjobs", &[]);
    let stats: Vec<&str> = r
        .lines()
        .iter()
        .skip(1)
        .map(|l| l.split_whitespace().nth(2).unwrap())
        .collect();
    assert_eq!(
        stats.iter().filter(|s| **s == "RUN").count(),
        2,
        "{}",
        r.stdout
    );
    assert_eq!(
        stats.iter().filter(|s| **s == "PEND").count(),
        4,
        "{}",
        r.stdout
    );
    // Nobody calls bjobs from here on: runners dispatch the rest when they end.
    std::thread::sleep(std::time::Duration::from_millis(4000));
    for id in &ids {
        assert_eq!(sim.stat(*id), "DONE", "job {id}");
    }
    let bjobs_calls = sim.calls().iter().filter(|c| c["cmd"] == "bjobs").count();
    assert_eq!(bjobs_calls, 1 + ids.len());
}

#[test]
fn exit_codes_and_job_environment() {
    let sim = Sim::new("");
    let bad = sim.submit(&["-o", "bad.out", "echo failing; exit 3"], "");
    let good = sim.submit(
        &["-o", "env.out", "-J", "envjob", "-q", "normal"],
        "echo \"id=$LSB_JOBID idx=$LSB_JOBINDEX name=$LSB_JOBNAME q=$LSB_QUEUE hosts=$LSB_HOSTS pwd=$PWD\"\n",
    );
    sim.wait_stat(bad, &["DONE", "EXIT"], 10);
    sim.wait_stat(good, &["DONE", "EXIT"], 10);
    let rows = sim.rows(
        "jobid stat exit_code",
        &[&bad.to_string(), &good.to_string()],
    );
    assert_eq!(rows[0], vec![bad.to_string(), "EXIT".into(), "3".into()]);
    assert_eq!(rows[1], vec![good.to_string(), "DONE".into(), "-".into()]);
    let out = read(&sim.work.join("env.out"));
    let first = out.lines().next().unwrap();
    let host = sim.rows("exec_host", &[&good.to_string()])[0][0].clone();
    assert_eq!(
        first,
        format!(
            "id={good} idx=0 name=envjob q=normal hosts={host} pwd={}",
            sim.work.display()
        )
    );
    let bad_out = read(&sim.work.join("bad.out"));
    assert!(bad_out.starts_with("failing\n"));
    assert!(bad_out.contains("\nExited with exit code 3.\n"));
}

#[test]
fn output_file_gets_job_output_then_lsf_trailer() {
    let sim = Sim::new("");
    let script = "#BSUB -o logs.%J.txt\necho to-stdout\necho to-stderr >&2\n";
    let id = sim.submit(&[], script);
    sim.wait_stat(id, &["DONE"], 10);
    let path = sim.work.join(format!("logs.{id}.txt"));
    let text = read(&path);
    assert!(text.starts_with("to-stdout\nto-stderr\n"), "{text}");
    let shapes = [
        r"^-{60}$",
        r"^Sender: LSF System <lsfadmin@\S+>$",
        r"^Subject: Job \d+: <[^>]+> in cluster <\S+> Done$",
        r"^Job <[^>]+> was submitted from host <\S+> by user <\S+> in cluster <\S+> at \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$",
        r"^Job was executed on host\(s\) <\S+>, in queue <\S+>, as user <\S+> in cluster <\S+> at .+$",
        r"^<.+> was used as the working directory\.$",
        r"^Started at \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$",
        r"^# LSBATCH: User input$",
        r"^Successfully completed\.$",
        r"^Resource usage summary:$",
        r"^    CPU time :\s{35}\d+\.\d\d sec\.$",
        r"^    Max Memory :\s{33}\d+ MB$",
        r"^    Run time :\s{35}\d+ sec\.$",
        r"^    Turnaround time :\s{28}\d+ sec\.$",
        r"^The output \(if any\) is above this job summary\.$",
    ];
    for re in shapes {
        same_shape(re, "joboutput-trailer-done.txt", &text);
    }

    // -o appends; without -e stderr joins stdout; with -e it does not, and a PS points to it.
    let a = sim.submit(
        &[
            "-J",
            "failing",
            "-o",
            "shared.out",
            "-e",
            "shared.err",
            "echo one; echo oops >&2; exit 1",
        ],
        "",
    );
    sim.wait_stat(a, &["EXIT"], 10);
    let b = sim.submit(&["-o", "shared.out", "echo two"], "");
    sim.wait_stat(b, &["DONE"], 10);
    let shared = read(&sim.work.join("shared.out"));
    assert!(shared.starts_with("one\n"));
    assert!(shared.contains("\ntwo\n"));
    assert_eq!(shared.matches("Sender: LSF System").count(), 2);
    assert!(shared.contains("Read file <"));
    assert_eq!(read(&sim.work.join("shared.err")), "oops\n");
    for re in [
        r"^Subject: Job \d+: <[^>]+> in cluster <\S+> Exited$",
        r"^Exited with exit code \d+\.$",
    ] {
        same_shape(re, "joboutput-trailer-exited.txt", &shared);
    }

    // -oo overwrites.
    let c = sim.submit(&["-oo", "shared.out", "echo three"], "");
    sim.wait_stat(c, &["DONE"], 10);
    assert!(read(&sim.work.join("shared.out")).starts_with("three\n"));
}

#[test]
fn arrays_respect_the_running_limit_and_set_the_index() {
    let sim = Sim::new("[[queue]]\nname = \"normal\"\nslots = 8\n");
    let id = sim.submit(
        &[
            "-J",
            "sweep[1-6]%2",
            "-o",
            "arr.%J.%I",
            "echo idx=$LSB_JOBINDEX; sleep 0.4",
        ],
        "",
    );
    let mut max_run = 0;
    let done = wait_until(20, || {
        let rows = sim.rows("jobid jobindex stat job_name", &[&id.to_string()]);
        assert_eq!(rows.len(), 6);
        for r in &rows {
            assert_eq!(r[0], id.to_string());
            assert_eq!(r[3], format!("sweep[{}]", r[1]));
        }
        let run = rows.iter().filter(|r| r[2] == "RUN").count();
        max_run = max_run.max(run);
        rows.iter().all(|r| r[2] == "DONE")
    });
    assert!(done);
    assert!(max_run <= 2, "{max_run} elements ran at once");
    for i in 1..=6 {
        let out = read(&sim.work.join(format!("arr.{id}.{i}")));
        assert!(out.starts_with(&format!("idx={i}\n")), "{out}");
        assert!(out.contains(&format!("Subject: Job {id}[{i}]: <sweep[{i}]>")));
    }
    // Element addressing.
    let rows = sim.rows("jobindex stat", &[&format!("{id}[3]")]);
    assert_eq!(rows, vec![vec!["3".to_string(), "DONE".into()]]);
    // A step in the index list.
    let id2 = sim.submit(&["-J", "odd[1-9:2]", "true"], "");
    let idx: Vec<String> = sim
        .rows("jobindex", &[&id2.to_string()])
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    assert_eq!(idx, vec!["1", "3", "5", "7", "9"]);
    // Table rows: same JOBID, name[i] in JOB_NAME.
    let r = sim.run("bjobs", &["-a", &id.to_string()]);
    same_shape(
        r"^\d+\s+\S+\s+DONE\s+\S+\s+\S+\s+\S+\s+\*?\S*\[\d+\]\s+\w{3} [ \d]\d \d\d:\d\d$",
        "bjobs-array-elements-truncated-names-osc.txt",
        &r.stdout,
    );
}

#[test]
fn arrays_larger_than_max_array_size_are_refused() {
    let sim = Sim::new("max_array_size = 10\n");
    let r = sim.run("bsub", &["-J", "big[1-11]", "true"]);
    assert_eq!(r.code, 255);
    assert_eq!(r.stdout, "");
    assert_eq!(r.stderr, "Job array index too large. Job not submitted.\n");
    let r = sim.run("bsub", &["-J", "ok[1-10]", "true"]);
    assert_eq!(r.code, 0);
}

#[test]
fn unknown_queue_and_host_group_are_refused() {
    let sim = Sim::new(
        "[[queue]]\nname = \"normal\"\n[[hostgroup]]\nname = \"gpus\"\nhosts = [\"g01\", \"g02\"]\n",
    );
    let r = sim.run("bsub", &["-q", "nosuch", "true"]);
    assert_eq!((r.code, r.stdout.as_str()), (255, ""));
    assert_eq!(r.stderr, "nosuch: No such queue. Job not submitted.\n");
    same_shape(
        r"^[\w.-]+: No such queue\. Job not submitted\.$",
        "bsub-error-no-such-queue.txt",
        &r.stderr,
    );
    let r = sim.run("bsub", &["-m", "cpus", "true"]);
    assert_eq!(r.code, 255);
    assert_eq!(
        r.stderr,
        "cpus: Bad host name, host group name or cluster name. Job not submitted.\n"
    );
    let id = sim.submit(&["-m", "gpus", "true"], "");
    sim.wait_stat(id, &["DONE"], 10);
    let host = sim.rows("exec_host", &[&id.to_string()])[0][0].clone();
    assert!(host == "g01" || host == "g02", "{host}");
    assert_eq!(sim.calls().iter().filter(|c| c["exit"] == 255).count(), 2);
}

#[test]
fn bkill_running_pending_finished_and_unknown() {
    let sim = Sim::new("kill_grace_ms = 1000\n[[queue]]\nname = \"normal\"\nslots = 1\n");
    let run = sim.submit(&["-o", "killed.out", "sleep 30"], "");
    let pend = sim.submit(&["sleep 30"], "");
    sim.wait_stat(run, &["RUN"], 5);
    assert_eq!(sim.stat(pend), "PEND");

    let r = sim.run("bkill", &[&run.to_string()]);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    same_shape(
        r"^Job <\d+> is being terminated$",
        "bkill-being-terminated.txt",
        &r.stdout,
    );
    sim.wait_stat(run, &["EXIT"], 10);
    assert_eq!(sim.rows("exit_code", &[&run.to_string()])[0][0], "130");
    let out = read(&sim.work.join("killed.out"));
    assert!(
        out.contains("\nTERM_OWNER: job killed by owner.\nExited with exit code 130.\n"),
        "{out}"
    );

    // The freed slot went to the pending job; kill it too (running or not).
    let r = sim.run("bkill", &[&pend.to_string()]);
    assert_eq!(r.stdout, format!("Job <{pend}> is being terminated\n"));
    sim.wait_stat(pend, &["EXIT"], 10);

    let r = sim.run("bkill", &[&run.to_string()]);
    assert_eq!((r.code, r.stdout.as_str()), (255, ""));
    assert_eq!(r.stderr, format!("Job <{run}>: Job has already finished\n"));
    same_shape(
        r"^Job <\d+>: Job has already finished$",
        "bkill-already-finished.txt",
        &r.stderr,
    );

    let r = sim.run("bkill", &["424242"]);
    assert_eq!((r.code, r.stdout.as_str()), (255, ""));
    same_shape(
        r"^Job <\d+>: No matching job found$",
        "bkill-no-matching-job.txt",
        &r.stderr,
    );

    // Killing while pending: EXIT without ever running.
    let sim = Sim::new("[[queue]]\nname = \"normal\"\nslots = 1\n");
    let a = sim.submit(&["sleep 30"], "");
    let b = sim.submit(&["sleep 30"], "");
    let r = sim.run("bkill", &[&b.to_string()]);
    assert_eq!(r.code, 0);
    assert_eq!(
        sim.rows("stat exec_host", &[&b.to_string()])[0],
        vec!["EXIT", "-"]
    );
    // Array element and "0" (all my jobs).
    let arr = sim.submit(&["-J", "k[1-3]", "sleep 30"], "");
    let r = sim.run("bkill", &[&format!("{arr}[2]")]);
    same_shape(
        r"^Job <\d+\[\d+\]> is being terminated$",
        "bkill-array-element.txt",
        &r.stdout,
    );
    assert_eq!(sim.rows("stat", &[&format!("{arr}[2]")])[0][0], "EXIT");
    let r = sim.run("bkill", &["0"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains(&format!("Job <{a}> is being terminated")));
    assert!(wait_until(10, || sim.run("bjobs", &[]).stderr
        == "No unfinished job found\n"));
}

#[test]
fn finished_jobs_are_forgotten_after_clean_period_but_bhist_remembers() {
    let sim = Sim::new("clean_period = 1\n");
    let id = sim.submit(&["-J", "brief", "exit 4"], "");
    sim.wait_stat(id, &["EXIT"], 10);
    let live = sim.submit(&["sleep 5"], "");
    std::thread::sleep(std::time::Duration::from_millis(1300));
    let r = sim.run("bjobs", &["-a", &id.to_string()]);
    assert_eq!((r.code, r.stdout.as_str()), (0, ""));
    assert_eq!(r.stderr, format!("Job <{id}> is not found\n"));
    same_shape(
        r"^Job <\d+> is not found$",
        "bjobs-l-not-found-stderr.txt",
        &r.stderr,
    );
    // Mixed found and not found: rows on stdout, 255.
    let fmt = "jobid stat delimiter='^'";
    let r = sim.run(
        "bjobs",
        &["-noheader", "-o", fmt, &live.to_string(), &id.to_string()],
    );
    assert_eq!(r.code, 255);
    assert_eq!(r.stdout, format!("{live}^RUN\n"));
    assert_eq!(r.stderr, format!("Job <{id}> is not found\n"));
    let r = sim.run("bjobs", &["-J", "brief"]);
    assert_eq!(r.stderr, "Job <brief> is not found\n");
    let r = sim.run("bkill", &[&id.to_string()]);
    assert_eq!(r.stderr, format!("Job <{id}>: No matching job found\n"));
    let r = sim.run("bhist", &["-l", &id.to_string()]);
    assert_eq!(r.code, 0);
    assert!(
        r.stdout.contains("Exited with exit code 4."),
        "{}",
        r.stdout
    );
    same_shape(
        r"^  PEND     PSUSP    RUN      USUSP    SSUSP    UNKWN    TOTAL$",
        "bhist-l-array-elements-done-lsf10.txt",
        &r.stdout,
    );
    same_shape(
        r"^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d: Submitted from host <[^>]*>, to Qu",
        "bhist-l-array-elements-done-lsf10.txt",
        &r.stdout,
    );
}

#[test]
fn a_job_whose_runner_dies_does_not_stay_running() {
    let sim = Sim::new("");
    let id = sim.submit(&["sleep 30"], "");
    sim.wait_stat(id, &["RUN"], 5);
    let runner = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .find(|pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let args: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
            args.len() >= 5
                && args[1] == b"__run"
                && args[2] == sim.state.as_os_str().as_encoded_bytes()
                && args[3] == id.to_string().as_bytes()
        })
        .expect("runner process");
    // SAFETY: plain kill(2) of the runner this test's simulator started.
    unsafe { libc::kill(runner, libc::SIGKILL) };
    sim.wait_stat(id, &["EXIT"], 10);
    assert_eq!(sim.rows("exit_code", &[&id.to_string()])[0][0], "137");
}

#[test]
fn many_concurrent_submissions_never_corrupt_the_state() {
    let sim = Sim::new("[[queue]]\nname = \"normal\"\nslots = 3\n");
    let ids: Vec<u64> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..16)
            .map(|i| {
                let sim = &sim;
                s.spawn(move || sim.submit(&["-J", &format!("c{i}"), "true"], ""))
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), 16);
    assert!(wait_until(20, || sim
        .rows("stat", &[])
        .iter()
        .filter(|r| r[0] == "DONE")
        .count()
        == 16));
    let names: Vec<String> = sim
        .calls()
        .iter()
        .filter(|c| c["cmd"] == "bsub")
        .map(|c| c["names"][0].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names.len(), 16);
}

#[test]
fn bqueues_counts_live() {
    let sim = Sim::new(
        "[[queue]]\nname = \"normal\"\nslots = 1\n[[queue]]\nname = \"long\"\nslots = 2\npriority = 40\n",
    );
    sim.submit(&["sleep 30"], "");
    sim.submit(&["sleep 30"], "");
    let r = sim.run("bqueues", &[]);
    same_shape(
        r"^QUEUE_NAME      PRIO STATUS          MAX JL/U JL/P JL/H NJOBS  PEND   RUN  SUSP $",
        "bqueues-default.txt",
        &r.stdout,
    );
    // Same column layout as the real table (token end columns), where values fit.
    if let Some(cap) = crate::common::capture("bqueues-default.txt") {
        let real = cap.lines().nth(1).unwrap();
        assert_eq!(
            token_ends(real),
            token_ends(r.lines()[1]),
            "{real}\n{}",
            r.lines()[1]
        );
    }
    assert_eq!(
        r.lines()[1],
        "normal           30   Open:Active      1    -    -    -     2     1     1     0"
    );
    assert_eq!(
        r.lines()[2],
        "long             40   Open:Active      2    -    -    -     0     0     0     0"
    );
    let r = sim.run("bqueues", &["nope"]);
    assert_eq!((r.code, r.stderr.as_str()), (255, "nope: No such queue\n"));
}

fn token_ends(line: &str) -> Vec<usize> {
    let b = line.as_bytes();
    (0..b.len())
        .filter(|&i| b[i] != b' ' && (i + 1 == b.len() || b[i + 1] == b' '))
        .map(|i| i + 1)
        .collect()
}
