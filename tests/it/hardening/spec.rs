//! The sweep-file hardening seen from the command line: files a careless or hostile user wrote
//! are refused by `plan`, `launch` and `doctor` with exit 2 at `file:line:col` before anything
//! is recorded, and numbers written in the file reach the program and the CSV as written.
//!
//! Each test runs the real binary with `--home` in a temp dir.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A temp dir holding the sweep files and the bsweep home.
struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Dir {
        Dir(tempfile::tempdir().expect("temp dir"))
    }

    fn path(&self) -> &Path {
        self.0.path()
    }

    fn home(&self) -> PathBuf {
        self.path().join("home")
    }

    /// Writes `name` with `text` and returns its path as a string.
    fn file(&self, name: &str, text: &str) -> String {
        let p = self.path().join(name);
        std::fs::write(&p, text).expect("write sweep file");
        p.to_str().expect("utf-8 path").to_string()
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_bsweep"))
            .arg("--home")
            .arg(self.home())
            .args(args)
            .current_dir(self.path())
            .env_remove("BSWEEP_HOME")
            .output()
            .expect("run bsweep")
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `args` on `file` exits 2 and says `file:at: field: ...` containing `says`, and records
/// nothing.
fn refused(d: &Dir, args: &[&str], file: &str, at: &str, says: &str) {
    let mut all = args.to_vec();
    all.insert(1, file);
    let out = d.run(&all);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(err.contains(&format!("{file}:{at}: ")), "{args:?}: {err}");
    assert!(err.contains(says), "{args:?}: {err}");
    assert!(
        !d.home().join("sweeps").exists(),
        "{args:?}: a refused file records nothing"
    );
}

#[test]
fn hardening_07_numbers_out_of_range_are_refused_before_launch_records_anything() {
    let d = Dir::new();
    let lsf = |key_value: &str| {
        format!("name = \"n\"\ncommand = \"echo\"\nbackend = \"lsf\"\n[lsf]\n{key_value}\n")
    };
    let cases = [
        (
            "poll_max = 1e300",
            "5:12",
            "lsf.poll_max: must be between 0.05 and 86400 seconds",
        ),
        (
            "submit_rate = 1e-300",
            "5:15",
            "lsf.submit_rate: must be between 0.001 and 1000",
        ),
        (
            "memory = \"99999999999999999999TB\"",
            "5:10",
            "lsf.memory: `99999999999999999999TB`",
        ),
        ("walltime = \"0\"", "5:12", "lsf.walltime: `0` is 0 minutes"),
        (
            "lost_after = 1e30",
            "5:14",
            "lsf.lost_after: must be between 1 and 604800",
        ),
    ];
    for (kv, at, says) in cases {
        let file = d.file("n.toml", &lsf(kv));
        // Before: `launch` recorded the sweep, then panicked converting the interval (and so did
        // every `resume`), or waited forever after one submission.
        for args in [
            &["launch", "--here"][..],
            &["plan"][..],
            &["doctor", "--here"][..],
        ] {
            refused(&d, args, &file, at, says);
        }
    }
}

#[test]
fn hardening_13_written_numbers_reach_the_program_and_the_csv_as_written() {
    let d = Dir::new();
    let written = [
        "0.00001",
        "1e3",
        "1.50",
        "123456789012345678.0",
        "+2.5",
        "0.1",
    ];
    let file = d.file(
        "w.toml",
        &format!(
            "name = \"w\"\ncommand = \"printf '%s' {{lr}} > {{out_dir}}/lr.txt\"\n\
             [grid]\nlr = [{}]\n[local]\nconcurrency = 2\n",
            written.join(", ")
        ),
    );
    let out = d.run(&["launch", &file, "-q"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The command is rendered from the point as the store keeps it: the text survived it.
    for (i, w) in written.iter().enumerate() {
        let got = std::fs::read_to_string(d.home().join(format!("sweeps/w/out/{i:05}/lr.txt")))
            .expect("the job wrote its argument");
        assert_eq!(&got, w, "point {i}");
    }
    let csv = d.path().join("w.csv");
    let out = d.run(&["collect", "w", "-o", csv.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut rows = csv::Reader::from_path(&csv).expect("csv");
    let headers = rows.headers().expect("header").clone();
    let col = headers.iter().position(|h| h == "lr").expect("lr column");
    let cells: Vec<String> = rows
        .records()
        .map(|r| r.expect("row")[col].to_string())
        .collect();
    assert_eq!(cells, written);
    // `status --json` gives numbers, as before.
    let out = d.run(&["status", "w", "--json"]);
    let st: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(st["points"][0]["params"]["lr"], serde_json::json!(1e-5));
    assert_eq!(st["points"][2]["params"]["lr"], serde_json::json!(1.5));
}

#[test]
fn hardening_17_a_key_below_a_header_is_named_where_it_landed() {
    let d = Dir::new();
    let file = d.file(
        "x.toml",
        "name = \"x\"\n# a sweep\n\n\n[local]\nconcurrency = 2\ncommand = \"echo\"\n",
    );
    refused(
        &d,
        &["plan"],
        &file,
        "7:1",
        "local.command: unknown key; top-level keys must come before the first [table] — move \
         it above [local] (line 5)",
    );
}

#[test]
fn hardening_17_bsub_values_cannot_inject_options() {
    let d = Dir::new();
    let body =
        |lsf: &str| format!("name = \"b\"\ncommand = \"echo\"\nbackend = \"lsf\"\n[lsf]\n{lsf}\n");
    let cases = [
        (
            r#"resources = "span[hosts=1]\" -q evil""#,
            "5:13",
            "lsf.resources: must not contain `\"`",
        ),
        (
            r#"queue = "short\n#BSUB -q evil""#,
            "5:9",
            "lsf.queue: must be a single line",
        ),
        (
            r#"gpu = "num=1\r-q evil""#,
            "5:7",
            "lsf.gpu: must be a single line",
        ),
        (
            r#"hosts = ["a", "b\" -q evil"]"#,
            "5:15",
            "lsf.hosts[1]: must not contain",
        ),
        (
            r#"extra = ["-P x\\"]"#,
            "5:10",
            "lsf.extra[0]: must not end with `\\`",
        ),
    ];
    for (lsf, at, says) in cases {
        let file = d.file("b.toml", &body(lsf));
        refused(&d, &["plan"], &file, at, says);
        refused(&d, &["launch", "--here"], &file, at, says);
    }
    // What sites write stays one #BSUB line each.
    let file = d.file(
        "b.toml",
        &body("resources = \"select[mem>4000] span[hosts=1]\"\nextra = [\"-Jd 'my run'\"]"),
    );
    let out = d.run(&["plan", &file]);
    assert!(out.status.success(), "{}", stderr(&out));
    let plan = stdout(&out);
    assert!(
        plan.contains("\n#BSUB -R \"select[mem>4000] span[hosts=1]\"\n"),
        "{plan}"
    );
    assert!(plan.contains("\n#BSUB -Jd 'my run'\n"), "{plan}");
}

#[test]
fn hardening_17_collect_names_remote_dirs_and_sweep_names_are_checked_at_load() {
    let d = Dir::new();
    let cases = [
        (
            "name = \"c\"\ncommand = \"echo\"\n[collect]\nfiles = [\"m.json\", \"a\\rb\"]\n",
            "4:20",
            "collect.files[1]: `a\\rb` contains a line break",
        ),
        (
            "name = \"c\"\ncommand = \"echo\"\n[collect]\nmetrics_json = \"../m.json\"\n",
            "4:16",
            "collect.metrics_json: `../m.json` contains `..`",
        ),
        (
            "name = \"c\"\ncommand = \"echo\"\nbackend = \"lsf\"\n[cluster]\nhost = \"u@h\"\nremote_dir = \"~root/x\"\n",
            "6:14",
            "cluster.remote_dir: `~root/x` uses the `~user` form",
        ),
        (
            "name = \"c\"\ncommand = \"echo\"\nbackend = \"lsf\"\n[cluster]\nhost = \"u@h\"\nremote_dir = \"/scratch/%J\"\n",
            "6:14",
            "cluster.remote_dir: must not contain `%`",
        ),
        (
            "name = \"../../escaped\"\ncommand = \"echo\"\n",
            "1:8",
            "name: `../../escaped` starts with `.`; a sweep name is 1 to 64 letters",
        ),
    ];
    for (text, at, says) in cases {
        let file = d.file("c.toml", text);
        refused(&d, &["plan"], &file, at, says);
        refused(&d, &["launch"], &file, at, says);
    }
    assert!(!d.path().join("escaped").exists());
    assert!(!d.path().parent().unwrap().join("escaped").exists());
    // `./metrics.json` is the same file as `metrics.json`.
    let file = d.file(
        "c.toml",
        "name = \"c\"\ncommand = \"echo '{\\\"loss\\\": 0.5}' > {out_dir}/metrics.json\"\n\
         [collect]\nmetrics_json = \"./metrics.json\"\n",
    );
    let out = d.run(&["launch", &file, "-q"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let csv = d.path().join("c.csv");
    let out = d.run(&["collect", "c", "-o", csv.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    let loss = header
        .iter()
        .position(|h| *h == "loss")
        .expect("loss column");
    assert_eq!(row[loss], "0.5", "{text}");
}
