//! Benchmarks of the bjobs parsers on one poll's worth of output for a very large sweep:
//! 100,000 records in each of the three modes bsweep reads (`-o … -json`, `-o … delimiter='^'`,
//! the `-w` table). A timing covers reading the output into records and freeing them again, as a
//! poll does. Run with `cargo bench --bench parse` (`BENCH_CLOCK=cpu` on a busy machine);
//! `cargo bench -- --test` runs each once.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

#[path = "common/clock.rs"]
mod clock;

use bsweep::sched::lsf::parse::{
    BJOBS_DELIMITER, BJOBS_FIELDS, parse_bjobs_delimited, parse_bjobs_json, parse_bjobs_table,
};

const RECORDS: usize = 100_000;

/// The values of one job, as LSF prints them for bsweep's `-o` fields (empty = no value).
/// A realistic mix for a large sweep: mostly DONE, some running, pending and failed, and one
/// record in four an element of a job array.
struct Job {
    id: String,
    stat: &'static str,
    queue: &'static str,
    name: String,
    exec_host: String,
    exit_code: String,
    submit: String,
    start: String,
    finish: String,
    run_time: String,
    cpu: String,
    max_mem: String,
}

fn job(i: usize) -> Job {
    let stat = match i % 10 {
        0..=5 => "DONE",
        6 | 7 => "RUN",
        8 => "PEND",
        _ => "EXIT",
    };
    let ran = stat != "PEND";
    let ended = stat == "DONE" || stat == "EXIT";
    let (id, name) = if i.is_multiple_of(4) {
        // Array elements share the array's id; the element index is in the name.
        let first = i - i % 1000;
        (
            format!("{}", 700_000 + first),
            format!("bsw-3fa9c1-a{first:05}-1[{}]", i % 1000 + 1),
        )
    } else {
        (format!("{}", 1_200_000 + i), format!("bsw-3fa9c1-{i:05}-1"))
    };
    let day = 1 + i % 28;
    let t = |h: usize, m: usize| format!("Mar {day:>2} {:02}:{:02}", h % 24, m % 60);
    Job {
        id,
        stat,
        queue: if i.is_multiple_of(3) { "gpu" } else { "normal" },
        name,
        exec_host: if !ran {
            String::new()
        } else if i.is_multiple_of(5) {
            format!("8*gpu{:03}:8*gpu{:03}", i % 97, (i + 1) % 97)
        } else {
            format!("node{:04}", i % 512)
        },
        exit_code: if stat == "EXIT" {
            format!("{}", 1 + i % 3)
        } else {
            String::new()
        },
        submit: t(i / 60, i),
        start: if ran {
            t(i / 60 + 1, i + 7)
        } else {
            String::new()
        },
        finish: if ended {
            format!("{} L", t(i / 60 + 2, i + 11))
        } else {
            String::new()
        },
        run_time: format!("{} second(s)", if ran { 60 + i % 7200 } else { 0 }),
        cpu: if ran {
            format!("{:.1} second(s)", (i % 7000) as f64 * 0.9)
        } else {
            String::new()
        },
        max_mem: if ran {
            format!("{} Mbytes", 100 + i % 20_000)
        } else {
            String::new()
        },
    }
}

impl Job {
    /// The values in `BJOBS_FIELDS` order.
    fn values(&self) -> [&str; 12] {
        [
            &self.id,
            self.stat,
            self.queue,
            &self.name,
            &self.exec_host,
            &self.exit_code,
            &self.submit,
            &self.start,
            &self.finish,
            &self.run_time,
            &self.cpu,
            &self.max_mem,
        ]
    }
}

/// `bjobs -a -o "<BJOBS_FIELDS>" -json`: LSF's layout, two-space indents, every value a string.
fn json_output(n: usize) -> String {
    let keys: Vec<String> = BJOBS_FIELDS.iter().map(|f| f.to_uppercase()).collect();
    let mut s = format!("{{\n  \"COMMAND\":\"bjobs\",\n  \"JOBS\":{n},\n  \"RECORDS\":[\n");
    for i in 0..n {
        let j = job(i);
        s.push_str("    {\n");
        for (k, (key, v)) in keys.iter().zip(j.values()).enumerate() {
            let comma = if k + 1 < keys.len() { "," } else { "" };
            s.push_str(&format!("      \"{key}\":\"{v}\"{comma}\n"));
        }
        s.push_str(if i + 1 < n { "    },\n" } else { "    }\n" });
    }
    s.push_str("  ]\n}\n");
    s
}

/// `bjobs -a -noheader -o "<BJOBS_FIELDS> delimiter='^'"`: `-` for empty values.
fn delimited_output(n: usize) -> String {
    let mut s = String::new();
    for i in 0..n {
        let j = job(i);
        let row: Vec<&str> = j
            .values()
            .iter()
            .map(|v| if v.is_empty() { "-" } else { v })
            .collect();
        s.push_str(&row.join(&BJOBS_DELIMITER.to_string()));
        s.push('\n');
    }
    s
}

/// `bjobs -a -w`: the header, then one row per job; EXEC_HOST is blank while pending.
fn table_output(n: usize) -> String {
    let mut s = String::from(
        "JOBID   USER    STAT  QUEUE      FROM_HOST   EXEC_HOST   JOB_NAME   SUBMIT_TIME\n",
    );
    for i in 0..n {
        let j = job(i);
        let host = if j.exec_host.is_empty() {
            String::new()
        } else {
            j.exec_host.replace("8*", "")
        };
        s.push_str(&format!(
            "{:<7} {:<7} {:<5} {:<10} {:<11} {:<11} {} {}\n",
            j.id, "alice", j.stat, j.queue, "login01", host, j.name, j.submit
        ));
    }
    s
}

fn parsers(c: &mut Criterion<clock::Clock>) {
    let json = json_output(RECORDS);
    let delimited = delimited_output(RECORDS);
    let table = table_output(RECORDS);
    // The generated outputs read back whole: every record, no complaint.
    let whole = |r: Result<_, _>| {
        r.map(|r: bsweep::sched::lsf::parse::BjobsReading| {
            (r.records.len(), r.messages.len(), r.not_found.len())
        })
    };
    assert_eq!(whole(parse_bjobs_json(&json, "")), Ok((RECORDS, 0, 0)));
    assert_eq!(
        whole(parse_bjobs_delimited(
            &delimited,
            "",
            BJOBS_FIELDS,
            BJOBS_DELIMITER
        )),
        Ok((RECORDS, 0, 0))
    );
    assert_eq!(whole(parse_bjobs_table(&table, "")), Ok((RECORDS, 0, 0)));

    let mut g = c.benchmark_group("bjobs");
    g.throughput(Throughput::Elements(RECORDS as u64));
    g.sample_size(10);
    g.bench_function("json 100k records", |b| {
        b.iter(|| black_box(parse_bjobs_json(black_box(&json), "").map(|r| r.records.len())))
    });
    g.bench_function("delimited 100k records", |b| {
        b.iter(|| {
            black_box(
                parse_bjobs_delimited(black_box(&delimited), "", BJOBS_FIELDS, BJOBS_DELIMITER)
                    .map(|r| r.records.len()),
            )
        })
    });
    g.bench_function("table 100k records", |b| {
        b.iter(|| black_box(parse_bjobs_table(black_box(&table), "").map(|r| r.records.len())))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(clock::Clock::from_env());
    targets = parsers
}
criterion_main!(benches);
