//! Reading back the CSV `collect` writes (`collect::write_csv`) into [`Row`]s: the fixed
//! columns by name (those a newer collect adds, such as `submitted` and `reason`, when
//! present), every other column after the parameters as a metric. Parameter values come from
//! the sweep's own points, so `"1"` and `1` stay the values the sweep file gave.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::{Row, SweepInfo};
use crate::model::State;
use crate::spec::{Point, Value};

/// Fixed columns this reader knows besides `collect::BASE_COLUMNS`: added by newer collects,
/// read when a CSV has them, never taken for metrics.
const MORE_FIXED: &[&str] = &["submitted", "reason", "memory", "walltime", "host"];

#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    #[error("cannot read the collected results {}", path.display())]
    Csv {
        path: PathBuf,
        #[source]
        source: csv::Error,
    },
    #[error(
        "{} is not the collected results of sweep {sweep}: its header starts `{found}`, not \
         `{expected}`; `bsweep collect {sweep}` writes it again",
        path.display()
    )]
    Header {
        path: PathBuf,
        sweep: String,
        expected: String,
        found: String,
    },
    #[error(
        "{}, line {line}: column `{column}` has `{value}`, {why}; `bsweep collect {sweep}` \
         writes the file again",
        path.display()
    )]
    Cell {
        path: PathBuf,
        sweep: String,
        line: u64,
        column: String,
        value: String,
        why: &'static str,
    },
}

/// The rows of the CSV at `path`. `points` are the sweep's points (index order, as
/// `Spec::points` gives them).
pub fn read_rows(
    path: &Path,
    info: &SweepInfo,
    points: impl Iterator<Item = Point>,
) -> Result<Vec<Row>, ResultsError> {
    let file = std::fs::File::open(path).map_err(|e| ResultsError::Csv {
        path: path.to_path_buf(),
        source: e.into(),
    })?;
    read_rows_from(std::io::BufReader::new(file), path, info, points)
}

/// Where each fixed column is, by name.
#[derive(Default)]
struct Columns {
    job_id: Option<usize>,
    target: Option<usize>,
    state: Option<usize>,
    exit_code: Option<usize>,
    attempts: Option<usize>,
    submitted: Option<usize>,
    started: Option<usize>,
    ended: Option<usize>,
    run_seconds: Option<usize>,
    max_mem_mb: Option<usize>,
    reason: Option<usize>,
    /// (position, name) of each metric.
    metrics: Vec<(usize, String)>,
}

impl Columns {
    fn of(header: &csv::StringRecord, skip: usize) -> Columns {
        let mut c = Columns::default();
        for (i, name) in header.iter().enumerate().skip(skip) {
            let slot = match name {
                "job_id" => &mut c.job_id,
                "target" => &mut c.target,
                "state" => &mut c.state,
                "exit_code" => &mut c.exit_code,
                "attempts" => &mut c.attempts,
                "submitted" => &mut c.submitted,
                "started" => &mut c.started,
                "ended" => &mut c.ended,
                "run_seconds" => &mut c.run_seconds,
                "max_mem_mb" => &mut c.max_mem_mb,
                "reason" => &mut c.reason,
                n if crate::collect::BASE_COLUMNS.contains(&n) || MORE_FIXED.contains(&n) => {
                    continue;
                }
                n => {
                    c.metrics.push((i, n.to_string()));
                    continue;
                }
            };
            slot.get_or_insert(i);
        }
        c
    }
}

/// A cell as collect meant it: a leading `'` that only makes a formula inert in a
/// spreadsheet (`'=1+2`, OWASP's advice for CSV files) is taken off again.
fn uncell(s: &str) -> &str {
    match s.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => rest,
        _ => s,
    }
}

/// Reads the rows from `input` (`path` only names it in errors).
pub fn read_rows_from<R: Read>(
    input: R,
    path: &Path,
    info: &SweepInfo,
    points: impl Iterator<Item = Point>,
) -> Result<Vec<Row>, ResultsError> {
    let csv_err = |source| ResultsError::Csv {
        path: path.to_path_buf(),
        source,
    };
    let mut r = csv::ReaderBuilder::new().flexible(false).from_reader(input);
    let header = r.headers().map_err(csv_err)?.clone();
    let expected: Vec<&str> = ["sweep", "index"]
        .into_iter()
        .chain(info.param_names.iter().map(String::as_str))
        .collect();
    let found: Vec<&str> = header.iter().take(expected.len()).collect();
    if found != expected {
        return Err(ResultsError::Header {
            path: path.to_path_buf(),
            sweep: info.name.clone(),
            expected: expected.join(","),
            found: found.join(","),
        });
    }
    let cols = Columns::of(&header, expected.len());
    let mut params: Vec<Option<Vec<(String, Value)>>> = points.map(|p| Some(p.params)).collect();
    let mut rows = Vec::with_capacity(params.len());
    let mut rec = csv::StringRecord::new();
    while r.read_record(&mut rec).map_err(csv_err)? {
        let line = rec.position().map_or(0, |p| p.line());
        let cell = Cell {
            path,
            sweep: &info.name,
            line,
            rec: &rec,
            header: &header,
        };
        if rec.get(0) != Some(info.name.as_str()) {
            return Err(cell.bad(0, "another sweep's name"));
        }
        let index: u64 = cell.parse(1, "not a point index")?;
        let params = usize::try_from(index)
            .ok()
            .and_then(|i| params.get_mut(i))
            .ok_or_else(|| cell.bad(1, "a point the sweep does not have"))?
            .take()
            .ok_or_else(|| cell.bad(1, "a point listed twice"))?;
        let state = match cols.state.map(|i| cell.text(i)) {
            Some(s) => State::ALL
                .into_iter()
                .find(|st| st.as_str() == s)
                .ok_or_else(|| cell.bad(cols.state.unwrap_or(0), "not a state"))?,
            None => State::Unsubmitted,
        };
        rows.push(Row {
            index,
            params,
            state,
            job_id: cell.opt_text(cols.job_id),
            target: cell.opt_text(cols.target).unwrap_or_default(),
            attempts: cell
                .opt(cols.attempts, "not a number of attempts")?
                .unwrap_or(0),
            exit_code: cell.opt(cols.exit_code, "not an exit code")?,
            reason: cell.opt_text(cols.reason),
            submitted: cell.time(cols.submitted)?,
            started: cell.time(cols.started)?,
            ended: cell.time(cols.ended)?,
            run_seconds: cell.opt(cols.run_seconds, "not a number of seconds")?,
            max_mem_mb: cell.opt(cols.max_mem_mb, "not a number of MB")?,
            metrics: cols
                .metrics
                .iter()
                .filter_map(|(i, name)| {
                    let v = uncell(rec.get(*i)?);
                    (!v.is_empty()).then(|| (name.clone(), v.to_string()))
                })
                .collect(),
            stderr_tail: None,
        });
    }
    Ok(rows)
}

/// One record, for reading its cells with errors that say where.
struct Cell<'a> {
    path: &'a Path,
    sweep: &'a str,
    line: u64,
    rec: &'a csv::StringRecord,
    header: &'a csv::StringRecord,
}

impl Cell<'_> {
    fn text(&self, i: usize) -> &str {
        uncell(self.rec.get(i).unwrap_or(""))
    }

    fn bad(&self, i: usize, why: &'static str) -> ResultsError {
        ResultsError::Cell {
            path: self.path.to_path_buf(),
            sweep: self.sweep.to_string(),
            line: self.line,
            column: self.header.get(i).unwrap_or("?").to_string(),
            value: self.rec.get(i).unwrap_or("").chars().take(80).collect(),
            why,
        }
    }

    fn parse<T: std::str::FromStr>(&self, i: usize, why: &'static str) -> Result<T, ResultsError> {
        self.text(i).trim().parse().map_err(|_| self.bad(i, why))
    }

    /// An optional text: `None` for a missing column or an empty cell.
    fn opt_text(&self, col: Option<usize>) -> Option<String> {
        let t = self.text(col?);
        (!t.is_empty()).then(|| t.to_string())
    }

    /// An optional number: `None` for a missing column or an empty cell.
    fn opt<T: std::str::FromStr>(
        &self,
        col: Option<usize>,
        why: &'static str,
    ) -> Result<Option<T>, ResultsError> {
        match col {
            Some(i) if !self.text(i).trim().is_empty() => self.parse(i, why).map(Some),
            _ => Ok(None),
        }
    }

    /// An RFC 3339 time as Unix seconds.
    fn time(&self, col: Option<usize>) -> Result<Option<f64>, ResultsError> {
        let Some(i) = col else { return Ok(None) };
        let t = self.text(i).trim();
        if t.is_empty() {
            return Ok(None);
        }
        let at =
            humantime::parse_rfc3339_weak(t).map_err(|_| self.bad(i, "not an RFC 3339 time"))?;
        Ok(Some(match at.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => d.as_secs_f64(),
            Err(e) => -e.duration().as_secs_f64(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> SweepInfo {
        SweepInfo {
            name: "s".into(),
            file: "s.toml".into(),
            backend: "local".into(),
            targets: vec!["local".into()],
            count: 3,
            param_names: vec!["opt".into(), "lr".into()],
        }
    }

    fn points() -> impl Iterator<Item = Point> {
        (0..3).map(|i| Point {
            index: i,
            params: vec![
                ("opt".into(), Value::Str(format!("{i}"))),
                ("lr".into(), Value::from(0.1 * (i + 1) as f64)),
            ],
        })
    }

    fn read(text: &str) -> Result<Vec<Row>, ResultsError> {
        read_rows_from(text.as_bytes(), Path::new("r.csv"), &info(), points())
    }

    /// A CSV as collect writes it (the quickstart's columns), plus the columns a newer collect
    /// adds after the fixed ones.
    const CSV: &str = "sweep,index,opt,lr,job_id,target,state,exit_code,attempts,started,ended,\
run_seconds,max_mem_mb,submitted,reason,loss,eval.acc,note\n\
s,0,0,0.1,24330,local,done,0,1,2026-12-01T10:21:15Z,2026-12-01T10:21:16Z,0.336,7.227,\
2026-12-01T10:21:14Z,,0.3667,0.9,'=cmd\n\
s,1,1,0.2,24331[2],short,failed,3,2,2026-12-01T10:21:15Z,,,,,TERM_MEMLIMIT,0.5,,\n\
s,2,2,0.30000000000000004,,,unsubmitted,,0,,,,,,,,,\n";

    #[test]
    fn reads_fixed_columns_by_name_and_the_rest_as_metrics() {
        let rows = read(CSV).unwrap();
        assert_eq!(rows.len(), 3);
        let r = &rows[0];
        assert_eq!(
            r.params[0].1,
            Value::Str("0".into()),
            "a string stays a string"
        );
        assert_eq!(
            (r.state, r.attempts, r.exit_code),
            (State::Done, 1, Some(0))
        );
        assert_eq!(r.job_id.as_deref(), Some("24330"));
        // `date -u -d 2026-12-01T10:21:15Z +%s` is 1796120475.
        assert_eq!(r.started, Some(1796120475.0));
        assert_eq!(r.submitted, Some(1796120474.0));
        assert_eq!((r.run_seconds, r.max_mem_mb), (Some(0.336), Some(7.227)));
        assert_eq!(
            r.metrics,
            [
                ("loss".to_string(), "0.3667".to_string()),
                ("eval.acc".to_string(), "0.9".to_string()),
                ("note".to_string(), "=cmd".to_string()),
            ]
        );
        let f = &rows[1];
        assert_eq!(
            (f.state, f.exit_code, f.attempts),
            (State::Failed, Some(3), 2)
        );
        assert_eq!(f.reason.as_deref(), Some("TERM_MEMLIMIT"));
        assert_eq!(f.target, "short");
        assert_eq!(f.ended, None);
        assert_eq!(f.metrics, [("loss".to_string(), "0.5".to_string())]);
        assert_eq!(rows[2].state, State::Unsubmitted);
        assert!(rows[2].metrics.is_empty() && rows[2].job_id.is_none());
    }

    #[test]
    fn an_older_csv_without_the_new_columns_reads() {
        let old = "sweep,index,opt,lr,job_id,target,state,exit_code,attempts,started,ended,\
run_seconds,max_mem_mb,acc\ns,0,0,0.1,1,local,done,0,1,,,,,0.5\n";
        let rows = read(old).unwrap();
        assert_eq!(rows[0].metrics, [("acc".to_string(), "0.5".to_string())]);
        assert_eq!((rows[0].submitted, rows[0].reason.as_deref()), (None, None));
    }

    #[test]
    fn bad_files_are_errors_that_say_where_and_what_to_run() {
        let e = read("sweep,index,lr,opt\n").unwrap_err().to_string();
        assert!(e.contains("starts `sweep,index,lr,opt`"), "{e}");
        assert!(e.ends_with("`bsweep collect s` writes it again"), "{e}");
        let bad = |row: &str| {
            let text = format!("sweep,index,opt,lr,state\n{row}\n");
            read(&text).unwrap_err().to_string()
        };
        let e = bad("s,x,0,0.1,done");
        assert!(
            e.contains("line 2: column `index` has `x`, not a point index"),
            "{e}"
        );
        assert!(bad("s,7,0,0.1,done").contains("a point the sweep does not have"));
        assert!(bad("t,0,0,0.1,done").contains("another sweep's name"));
        assert!(bad("s,0,0,0.1,finished").contains("column `state` has `finished`"));
        let twice = read("sweep,index,opt,lr,state\ns,0,0,0.1,done\ns,0,0,0.1,done\n");
        assert!(twice.unwrap_err().to_string().contains("listed twice"));
        let ragged = read("sweep,index,opt,lr,state\ns,0,0,0.1\n");
        assert!(matches!(ragged, Err(ResultsError::Csv { .. })));
    }

    #[test]
    fn only_a_formula_guard_is_taken_off() {
        assert_eq!(uncell("'=1+2"), "=1+2");
        assert_eq!(uncell("'-x"), "-x");
        assert_eq!(uncell("'quoted'"), "'quoted'");
        assert_eq!(uncell("-1.5"), "-1.5");
    }
}
