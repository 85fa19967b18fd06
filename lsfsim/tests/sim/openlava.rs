//! The `openlava` flavour against OpenLava 4.0's real transcripts (`openlava-*.txt`: the parser
//! fixtures of the main crate, and `tests/captures/` here): the same lines, columns, wrapping,
//! streams and exit codes, with only the values (ids, times, paths, sizes) different.

use crate::common::{Res, Sim, capture, read, wait_until};
use regex::Regex;

/// The cluster of the captures: one host `vm`, the queues of shared/openlava/README.md, root
/// submitting; a minute of run limit lasts one second.
const OPENLAVA: &str = r#"version = "openlava"
hosts = ["vm"]
submit_host = "vm"
user = "root"
cluster_name = "openlava"
default_queue = "normal"
runlimit_minute_ms = 1000
[[queue]]
name = "short"
priority = 40
runlimit = 10
[[queue]]
name = "gpu"
priority = 35
[[queue]]
name = "normal"
priority = 30
[[queue]]
name = "long"
priority = 20
"#;

/// A transcript's STDOUT, STDERR and exit code.
struct Transcript {
    stdout: String,
    stderr: String,
    exit: i32,
}

fn transcript(name: &str) -> Transcript {
    let body = capture(name).expect("capture");
    let part = |from: &str, to: &str| {
        let a = body.find(from).expect("section") + from.len();
        let b = body[a..].find(to).expect("section end") + a;
        body[a..b].to_string()
    };
    let exit = part("===== EXIT CODE =====\n", "\n")
        .trim()
        .parse()
        .expect("exit code");
    Transcript {
        stdout: part("===== STDOUT =====\n", "===== STDERR =====\n"),
        stderr: part("===== STDERR =====\n", "===== EXIT CODE =====\n"),
        exit,
    }
}

/// The simulator's commands are called by their full path, which getopt and the usage text
/// repeat; OpenLava was called through PATH.
fn by_name(sim: &Sim, text: &str) -> String {
    text.replace(&format!("{}/", sim.bin.display()), "")
}

/// OpenLava's long listings joined back into logical lines (a continuation is indented by 21
/// spaces).
fn unwrap(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for l in text.lines() {
        match (l.strip_prefix(&" ".repeat(21)), out.last_mut()) {
            (Some(rest), Some(prev)) if !prev.is_empty() => prev.push_str(rest),
            _ => out.push(l.to_string()),
        }
    }
    out
}

/// A line with its values replaced: times, `<...>` contents, numbers, and the padding that
/// aligns numbers of other widths (two or more spaces read as two); what stays is the shape.
fn shape(line: &str) -> String {
    let time = Regex::new(r"\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d( \d{4})?").unwrap();
    let angle = Regex::new(r"<[^<>]*>").unwrap();
    let num = Regex::new(r"\d+(\.\d+)?").unwrap();
    let pad = Regex::new(r"  +").unwrap();
    let l = time.replace_all(line, "TIME");
    let l = angle.replace_all(&l, "<>");
    let l = num.replace_all(&l, "N");
    pad.replace_all(&l, "  ").into_owned()
}

fn shapes(lines: &[String]) -> Vec<String> {
    lines.iter().map(|l| shape(l)).collect()
}

/// The usage summary of a report has OpenLava's labels and value columns whatever the values
/// (`    CPU time   :      0.01 sec.`: right-aligned in 10 after the colon).
fn same_usage_columns(ours: &str, real: &str) {
    let usage = |text: &str| -> Vec<(String, usize)> {
        text.lines()
            .filter(|l| l.starts_with("    ") && l.contains(" :"))
            .map(|l| {
                let colon = l.find(':').unwrap_or(0);
                let unit = l.rfind(' ').unwrap_or(0);
                (l[..=colon].to_string(), unit - colon)
            })
            .collect()
    };
    let (ours, real) = (usage(ours), usage(real));
    assert!(!real.is_empty());
    assert_eq!(ours, real);
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_string).collect()
}

/// Every line of an OpenLava long listing fits in 79 columns, and continuations are indented
/// by exactly 21 spaces.
fn wrapped_like_openlava(text: &str) {
    for l in text.lines() {
        assert!(l.chars().count() <= 79, "{l:?} is longer than 79:\n{text}");
    }
}

/// The STAT of a job (its first element) from `bjobs -a -w ID`: OpenLava has no `-o`, so
/// `Sim::stat` cannot ask.
fn stat(sim: &Sim, id: u64) -> String {
    let r = sim.run("bjobs", &["-a", "-w", &id.to_string()]);
    r.lines()
        .get(1)
        .and_then(|l| l.split_whitespace().nth(2))
        .unwrap_or_default()
        .to_string()
}

fn wait_stat(sim: &Sim, id: u64, want: &[&str], secs: u64) {
    let mut last = String::new();
    let reached = wait_until(secs, || {
        last = stat(sim, id);
        want.contains(&last.as_str())
    });
    assert!(reached, "job {id} stayed {last:?}, wanted {want:?}");
}

fn ok(r: &Res) {
    assert_eq!(r.code, 0, "{r:?}");
}

#[test]
fn lsid_prints_openlavas_banner() {
    let sim = Sim::new(OPENLAVA);
    let r = sim.run("lsid", &[]);
    let real = transcript("openlava-lsid.txt");
    assert_eq!(
        (r.stdout.as_str(), r.code),
        (real.stdout.as_str(), real.exit)
    );
}

#[test]
fn bjobs_tables_have_openlavas_columns() {
    let sim = Sim::new(&OPENLAVA.replace(
        "name = \"long\"\npriority = 20",
        "name = \"long\"\npriority = 20\nslots = 1",
    ));
    let run = sim.submit(&["-q", "long", "-J", "lab_script", "sleep 30"], "");
    let pend = sim.submit(&["-q", "long", "-J", "lab_pending", "sleep 5"], "");
    let long = sim.submit(
        &["-J", "a_rather_long_job_name_for_width_tests", "sleep 30"],
        "",
    );
    wait_stat(&sim, run, &["RUN"], 10);
    wait_stat(&sim, long, &["RUN"], 10);
    let time = Regex::new(r"\w{3} [ \d]\d \d\d:\d\d").unwrap();
    let row = |text: &str, name: &str| -> String {
        let l = text
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("{name} in {text}"));
        // Past JOBID (7 wide and a space), with the time as a placeholder.
        time.replace(&l[8..], "TIME").into_owned()
    };
    // Without -w: cut names, two trailing spaces, a blank EXEC_HOST while pending.
    let ours = sim.run("bjobs", &[]);
    ok(&ours);
    let real = transcript("openlava-bjobs-default.txt");
    assert_eq!(ours.lines()[0], real.stdout.lines().next().unwrap());
    for name in ["lab_script", "*b_pending", "*dth_tests"] {
        assert_eq!(row(&ours.stdout, name), row(&real.stdout, name), "{name}");
    }
    // -w: whole names, no trailing spaces, `   -    ` for a pending job's EXEC_HOST.
    let ours = sim.run("bjobs", &["-w"]);
    let real = transcript("openlava-bjobs-w.txt");
    for name in [
        "lab_script",
        "lab_pending",
        "a_rather_long_job_name_for_width_tests",
    ] {
        assert_eq!(row(&ours.stdout, name), row(&real.stdout, name), "{name}");
    }
    // -a: unfinished first (running by queue priority), then the finished ones.
    let done = sim.submit(&["-J", "lab_exit3", "exit 3"], "");
    wait_stat(&sim, done, &["EXIT"], 10);
    let ours = sim.run("bjobs", &["-a", "-w"]);
    let ids: Vec<&str> = ours.lines()[1..]
        .iter()
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(
        ids,
        [long, run, pend, done].map(|i| i.to_string()),
        "{}",
        ours.stdout
    );
    let real = transcript("openlava-bjobs-a-w.txt");
    assert_eq!(
        row(&ours.stdout, "lab_exit3"),
        row(&real.stdout, "lab_exit3")
    );
    let _ = pend;
}

#[test]
fn bjobs_refuses_o_and_json_and_exits_255_with_nothing_to_show() {
    let sim = Sim::new(OPENLAVA);
    for (args, name) in [
        (vec!["-o", "jobid stat queue"], "openlava-bjobs-o-usage.txt"),
        (vec!["-json"], "openlava-bjobs-json-usage.txt"),
        (vec![], "openlava-bjobs-no-unfinished-job.txt"),
        (vec!["-a"], "openlava-bjobs-a-no-job.txt"),
        (vec!["999999"], "openlava-bjobs-unknown-id.txt"),
    ] {
        let r = sim.run("bjobs", &args);
        let real = transcript(name);
        assert_eq!(
            (r.stdout.as_str(), by_name(&sim, &r.stderr), r.code),
            (real.stdout.as_str(), real.stderr.clone(), real.exit),
            "bjobs {args:?}"
        );
    }
    // OpenLava has -noheader (but not -o).
    let id = sim.submit(&["sleep 30"], "");
    let r = sim.run("bjobs", &["-noheader", &id.to_string()]);
    ok(&r);
    assert!(
        r.stdout.starts_with(&format!("{id:<7} root    ")),
        "{}",
        r.stdout
    );
}

#[test]
fn the_report_comes_before_the_output() {
    let sim = Sim::new(OPENLAVA);
    let done = sim.submit(&["-o", "%J.out", "echo hello from the default queue"], "");
    let exit = sim.submit(
        &[
            "-q",
            "normal",
            "-J",
            "lab_exit3",
            "-o",
            "%J.out",
            "echo about to fail; exit 3",
        ],
        "",
    );
    wait_stat(&sim, done, &["DONE"], 10);
    wait_stat(&sim, exit, &["EXIT"], 10);
    for (id, name) in [
        (done, "openlava-joboutput-done.txt"),
        (exit, "openlava-joboutput-exit3.txt"),
    ] {
        let ours = read(&sim.work.join(format!("{id}.out")));
        let real = transcript(name).stdout;
        assert_eq!(
            shapes(&lines(&ours)),
            shapes(&lines(&real)),
            "{name}:\n{ours}"
        );
        same_usage_columns(&ours, &real);
        assert!(
            ours.starts_with("Sender: OpenLava System <openlava@vm>\n"),
            "{ours}"
        );
    }
}

/// Three attempts of a point appending to one -o file, the first killed at its run limit:
/// OpenLava's SIGUSR2 kills the script (exit 140, the job file's "User defined signal 2" in the
/// -e file) and says nothing more; each attempt's output follows its own report.
#[test]
fn run_limit_kill_and_attempts_in_one_file() {
    let sim = Sim::new(OPENLAVA);
    std::fs::create_dir_all(sim.work.join("pt1")).unwrap();
    let script = |attempt: u32, body: &str, limit: &str| {
        format!(
            "#!/bin/bash\n#BSUB -J bsw-abc-00001-{attempt}\n{limit}#BSUB -o {o}\n#BSUB -e {e}\n\
             cd {w}\necho \"epoch=1 loss=0.5\"\necho \"to stderr\" >&2\n{body}\necho \"epoch=2 loss=0.25\"\n",
            o = sim.work.join("pt1/stdout.txt").display(),
            e = sim.work.join("pt1/stderr.txt").display(),
            w = sim.work.display(),
        )
    };
    let first = sim.submit(&[], &script(1, "sleep 120", "#BSUB -W 1\n"));
    wait_stat(&sim, first, &["EXIT"], 15);
    let second = sim.submit(&[], &script(2, "exit 7", ""));
    wait_stat(&sim, second, &["EXIT"], 10);
    let third = sim.submit(&[], &script(3, "true", ""));
    wait_stat(&sim, third, &["DONE"], 10);
    // The script echoes name the directories: the recording's and this test's.
    let work = sim.work.display().to_string();
    let ours = read(&sim.work.join("pt1/stdout.txt")).replace(&work, "WORK");
    let real = transcript("openlava-joboutput-three-attempts-runlimit.txt")
        .stdout
        .replace("/tmp/olcap/jobs", "WORK");
    assert_eq!(shapes(&lines(&ours)), shapes(&lines(&real)), "{ours}");
    // The -e file as recorded after the first attempt, and the two later attempts' line.
    let ours = read(&sim.work.join("pt1/stderr.txt"));
    let real = transcript("openlava-joboutput-runlimit-stderr.txt").stdout;
    assert_eq!(ours, format!("{real}to stderr\nto stderr\n"));

    // bhist -l and bjobs -l: the RUNLIMIT lines, exit 140, no TERM_ line, wrapped at 79.
    for (cmd, name) in [
        ("bhist", "openlava-bhist-l-runlimit.txt"),
        ("bjobs", "openlava-bjobs-l-runlimit.txt"),
    ] {
        let r = sim.run(cmd, &["-l", &first.to_string()]);
        ok(&r);
        wrapped_like_openlava(&r.stdout);
        let real = transcript(name).stdout;
        // The command line differs (the script lives elsewhere); the rest has OpenLava's shape.
        let drop_command = |l: Vec<String>| -> Vec<String> {
            l.into_iter()
                .map(|l| match l.find(", Command") {
                    Some(i) if l.starts_with("Job Id") => l[..i].to_string(),
                    _ => l,
                })
                .collect()
        };
        assert_eq!(
            shapes(&drop_command(unwrap(&r.stdout))),
            shapes(&drop_command(unwrap(&real))),
            "{cmd} -l:\n{}",
            r.stdout
        );
        assert!(!r.stdout.contains("TERM_"), "{}", r.stdout);
    }
    let r = sim.run("bjobs", &["-a", "-w", &first.to_string()]);
    assert!(r.lines()[1].contains(" EXIT "), "{}", r.stdout);
}

/// A one-line command survives the run limit's warning signal (only its `sleep` dies), goes on
/// and ends Done; OpenLava prints its job file's "User defined signal 2" into the output.
#[test]
fn run_limit_warning_and_a_queues_limit() {
    let sim = Sim::new(OPENLAVA);
    let warned = sim.submit(
        &[
            "-W",
            "1",
            "-J",
            "rl_w1",
            "-o",
            "%J.out",
            "echo start; sleep 120; echo never",
        ],
        "",
    );
    let queue = sim.submit(
        &[
            "-q",
            "short",
            "-J",
            "rl_queue",
            "-o",
            "%J.out",
            "echo queue limit job; sleep 900",
        ],
        "",
    );
    wait_stat(&sim, warned, &["DONE"], 15);
    let ours = read(&sim.work.join(format!("{warned}.out")));
    let real = transcript("openlava-joboutput-runlimit-warning-done.txt").stdout;
    assert_eq!(shapes(&lines(&ours)), shapes(&lines(&real)), "{ours}");
    // The queue's 10 minutes are 10 s here.
    wait_stat(&sim, queue, &["EXIT"], 30);
    let ours = read(&sim.work.join(format!("{queue}.out")));
    let real = transcript("openlava-joboutput-queue-runlimit.txt").stdout;
    assert_eq!(shapes(&lines(&ours)), shapes(&lines(&real)), "{ours}");
    // A queue's limit is not in bhist -l: it reads like any exit 140.
    let r = sim.run("bhist", &["-l", &queue.to_string()]);
    assert!(!r.stdout.contains("RUNLIMIT"), "{}", r.stdout);
    assert!(
        r.stdout.contains("Exited with exit code 140."),
        "{}",
        r.stdout
    );
}

#[test]
fn bhist_long_and_summary_have_openlavas_shape() {
    let sim = Sim::new(OPENLAVA);
    let done = sim.submit(&["-o", "%J.out", "echo hello from the default queue"], "");
    let exit = sim.submit(
        &[
            "-J",
            "lab_exit3",
            "-o",
            "%J.out",
            "echo about to fail; exit 3",
        ],
        "",
    );
    wait_stat(&sim, done, &["DONE"], 10);
    wait_stat(&sim, exit, &["EXIT"], 10);
    for (id, name) in [
        (done, "openlava-bhist-l-done.txt"),
        (exit, "openlava-bhist-l-exit3.txt"),
    ] {
        let r = sim.run("bhist", &["-l", &id.to_string()]);
        ok(&r);
        wrapped_like_openlava(&r.stdout);
        let real = transcript(name).stdout;
        assert_eq!(
            shapes(&unwrap(&r.stdout)),
            shapes(&unwrap(&real)),
            "{name}:\n{}",
            r.stdout
        );
    }
    // The exit line is 79 characters long: OpenLava's newline on column 80 leaves a line of
    // 21 spaces, and so does ours.
    let r = sim.run("bhist", &["-l", &exit.to_string()]);
    assert!(
        r.stdout.contains("seconds;\n                     \n"),
        "{}",
        r.stdout
    );
    let r = sim.run("bhist", &[&done.to_string()]);
    let real = lines(&transcript("openlava-bhist-summary-done.txt").stdout);
    assert_eq!(shapes(&lines(&r.stdout)), shapes(&real), "{}", r.stdout);
}

#[test]
fn bkill_answers_like_openlava() {
    let sim = Sim::new(OPENLAVA);
    let finished = sim.submit(&["true"], "");
    wait_stat(&sim, finished, &["DONE"], 10);
    let running = sim.submit(&["sleep 30"], "");
    let array = sim.submit(&["-J", "arr[1-3]", "sleep 30"], "");
    wait_stat(&sim, running, &["RUN"], 10);
    let id_free = |s: &str| {
        Regex::new(r"<\d+(\[\d+\])?>")
            .unwrap()
            .replace_all(s, "<N>")
            .into_owned()
    };
    let element = format!("{array}[3]");
    for (target, name) in [
        (running.to_string(), "openlava-bkill-running.txt"),
        (finished.to_string(), "openlava-bkill-finished.txt"),
        ("999999".to_string(), "openlava-bkill-unknown.txt"),
        (element, "openlava-bkill-array-element.txt"),
        (array.to_string(), "openlava-bkill-array.txt"),
    ] {
        let r = sim.run("bkill", &[&target]);
        let real = transcript(name);
        assert_eq!(
            (id_free(&r.stdout), id_free(&r.stderr), r.code),
            (id_free(&real.stdout), id_free(&real.stderr), real.exit),
            "bkill {target}"
        );
    }
    // "Operation is in progress", and every element is killed all the same.
    assert!(wait_until(10, || {
        let r = sim.run("bjobs", &["-a", &array.to_string()]);
        r.lines().len() == 4 && r.lines()[1..].iter().all(|l| l.contains(" EXIT "))
    }));
}

#[test]
fn bqueues_has_openlavas_columns() {
    let sim = Sim::new(OPENLAVA);
    let r = sim.run("bqueues", &[]);
    ok(&r);
    let real = transcript("openlava-bqueues.txt").stdout;
    // Every number or `-` of the same width: the columns line up as OpenLava's do.
    let digits = Regex::new(r"[0-9-]").unwrap();
    let norm = |s: &str| digits.replace_all(s, "N").into_owned();
    assert_eq!(norm(&r.stdout), norm(&real));
    let r = sim.run("bqueues", &["-o", "queue_name"]);
    assert_eq!(r.code, 255);
    assert!(
        by_name(&sim, &r.stderr).starts_with("bqueues: invalid option -- 'o'\n"),
        "{}",
        r.stderr
    );
}

#[test]
fn bmgroup_has_openlavas_options() {
    let sim = Sim::new(OPENLAVA);
    for (args, name) in [
        (vec!["-w"], "openlava-bmgroup-w.txt"),
        (vec![], "openlava-bmgroup-no-groups.txt"),
        (vec!["nosuchgroup"], "openlava-bmgroup-unknown-group.txt"),
    ] {
        let r = sim.run("bmgroup", &args);
        let real = transcript(name);
        assert_eq!(
            (r.stdout.as_str(), by_name(&sim, &r.stderr), r.code),
            (real.stdout.as_str(), real.stderr.clone(), real.exit),
            "bmgroup {args:?}"
        );
    }
    // With groups: bmgroup.c's table (no capture of one exists); an unknown name is an error.
    let sim = Sim::new(&format!(
        "{OPENLAVA}[[hostgroup]]\nname = \"gpus\"\nhosts = [\"g01\", \"g02\"]\n"
    ));
    let r = sim.run("bmgroup", &[]);
    ok(&r);
    assert_eq!(r.stdout, "GROUP_NAME    HOSTS\ngpus         g01 g02 \n");
    let r = sim.run("bmgroup", &["nosuch"]);
    assert_eq!(
        (r.stderr.as_str(), r.code),
        ("nosuch: No such user/host group\n", 255)
    );
    // LSF 10's bmgroup has -w.
    let sim = Sim::new("[[hostgroup]]\nname = \"gpus\"\nhosts = [\"g01\"]\n");
    let r = sim.run("bmgroup", &["-w", "gpus"]);
    ok(&r);
    assert!(r.stdout.contains("gpus         g01 "), "{}", r.stdout);
}
