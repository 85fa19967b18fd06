//! `bsub -pack FILE`: job packs where `$LSF_ENVDIR/lsf.conf` enables them, refused otherwise
//! (and by the OpenLava flavour, as OpenLava 4.0 refuses them).

use crate::common::{Sim, wait_until};

fn pack_file(sim: &Sim, lines: &[&str]) -> String {
    let p = sim.work.join("pack.txt");
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    p.to_string_lossy().into_owned()
}

/// `bsub -pack FILE` with an lsf.conf holding `conf`.
fn pack(sim: &Sim, conf: &str, file: &str) -> crate::common::Res {
    let envdir = sim.work.join("envdir");
    std::fs::create_dir_all(&envdir).unwrap();
    std::fs::write(envdir.join("lsf.conf"), conf).unwrap();
    let o = sim
        .cmd("bsub")
        .args(["-pack", file])
        .env("LSF_ENVDIR", &envdir)
        .output()
        .unwrap();
    crate::common::Res {
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        code: o.status.code().unwrap_or(-1),
    }
}

const QUEUES: &str = "[[queue]]\nname = \"short\"\n[[queue]]\nname = \"normal\"\n";

#[test]
fn a_pack_submits_each_line_in_order_with_one_answer_each() {
    let sim = Sim::new(QUEUES);
    let file = pack_file(
        &sim,
        &[
            "-J pa -q short -o out.%J bash -c 'echo a'",
            "",
            "-J pb -o out.%J echo b",
        ],
    );
    let r = pack(&sim, "LSB_MAX_PACK_JOBS=100\n", &file);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.lines(),
        [
            "Job <1> is submitted to queue <short>.",
            "Job <2> is submitted to default queue <short>."
        ]
    );
    assert!(wait_until(20, || sim.stat(1) == "DONE" && sim.stat(2) == "DONE"));
    let names = sim.rows("jobid job_name queue", &["1", "2"]);
    assert_eq!(names[0], ["1", "pa", "short"]);
    assert_eq!(names[1], ["2", "pb", "short"]);
    let calls = sim.calls();
    let call = calls.iter().find(|c| c["cmd"] == "bsub").unwrap();
    assert_eq!(call["args"], serde_json::json!(["-pack", file]));
    assert_eq!(call["names"], serde_json::json!(["pa", "pb"]));
}

#[test]
fn a_failed_request_stops_the_pack_unless_errors_are_skipped() {
    let sim = Sim::new(QUEUES);
    let file = pack_file(
        &sim,
        &[
            "-J a -q short true",
            "-J b -q nosuch true",
            "-J c -q short true",
        ],
    );
    let r = pack(&sim, "LSB_MAX_PACK_JOBS=10\n", &file);
    assert_eq!(r.code, 255);
    assert_eq!(r.lines(), ["Job <1> is submitted to queue <short>."]);
    assert_eq!(r.stderr, "nosuch: No such queue. Job not submitted.\n");
    let r = pack(&sim, "LSB_MAX_PACK_JOBS=10\nLSB_PACK_SKIP_ERROR=Y\n", &file);
    assert_eq!(r.code, 255);
    assert_eq!(
        r.lines(),
        [
            "Job <2> is submitted to queue <short>.",
            "Job <3> is submitted to queue <short>."
        ]
    );
}

#[test]
fn packs_are_refused_when_disabled_and_by_openlava() {
    let sim = Sim::new(QUEUES);
    let file = pack_file(&sim, &["-J a -q short true"]);
    for conf in ["", "LSB_MAX_PACK_JOBS=0\n"] {
        let r = pack(&sim, conf, &file);
        assert_eq!((r.code, r.stdout.as_str()), (255, ""), "{r:?}");
        assert!(r.stderr.contains("Job not submitted."), "{r:?}");
    }
    let ol = Sim::new(&format!("version = \"openlava\"\n{QUEUES}"));
    let file = pack_file(&ol, &["-J a -q short true"]);
    let r = pack(&ol, "LSB_MAX_PACK_JOBS=100\n", &file);
    assert_eq!(r.code, 255);
    assert_eq!(
        r.stderr,
        "ack: PROCESSLIMIT value should be a positive integer\n. Job not submitted.\n"
    );
    assert!(ol.rows("jobid", &[]).is_empty());
}
