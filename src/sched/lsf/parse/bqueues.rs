//! `bqueues`: queue status and load, from the default table or `-o ... -json`.

use serde::Serialize;
use serde_json::Value;

use super::ParseError;
use super::values::{is_empty_value, is_wait_chatter};

/// One queue. Counts are `None` when the output did not include them (a -json field list
/// without them); `max` is also `None` for `-` (no limit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueLoad {
    pub name: String,
    /// `Open:Active`, `Open:Inact`, `Closed:Active`, `Closed:Inact`.
    pub status: String,
    pub max: Option<u32>,
    pub njobs: Option<u32>,
    pub pend: Option<u32>,
    pub run: Option<u32>,
    pub susp: Option<u32>,
}

const COLUMNS: [&str; 7] = [
    "QUEUE_NAME",
    "STATUS",
    "MAX",
    "NJOBS",
    "PEND",
    "RUN",
    "SUSP",
];

fn count(v: &str) -> Result<Option<u32>, ()> {
    if is_empty_value(v) {
        return Ok(None);
    }
    v.trim().parse().map(Some).map_err(|_| ())
}

/// Reads the default `bqueues` table (`QUEUE_NAME PRIO STATUS MAX JL/U JL/P JL/H NJOBS PEND RUN
/// SUSP`). Columns are found by name in the header and values by whitespace (queue names and
/// statuses hold no spaces). Lines before the header (chatter) are skipped.
pub fn parse_bqueues(stdout: &str) -> Result<Vec<QueueLoad>, ParseError> {
    let mut header: Option<Vec<&str>> = None;
    let mut out = Vec::new();
    for (i, line) in stdout.lines().enumerate() {
        let toks: Vec<&str> = line.split_whitespace().collect();
        if toks.is_empty() {
            continue;
        }
        let Some(head) = &header else {
            if toks[0] == "QUEUE_NAME" {
                if let Some(missing) = COLUMNS.iter().find(|c| !toks.contains(c)) {
                    return Err(ParseError::new(
                        Some(i + 1),
                        line,
                        format!("a bqueues header with a {missing} column"),
                    ));
                }
                header = Some(toks);
            }
            continue;
        };
        let err = || {
            ParseError::new(
                Some(i + 1),
                line,
                format!(
                    "a bqueues row with {} values ({}), counts as numbers",
                    head.len(),
                    head.join(" ")
                ),
            )
        };
        if toks.len() != head.len() {
            return Err(err());
        }
        let get = |name: &str| {
            head.iter()
                .position(|h| *h == name)
                .and_then(|p| toks.get(p))
                .copied()
        };
        let num = |name: &str| count(get(name).unwrap_or("")).map_err(|_| err());
        out.push(QueueLoad {
            name: get("QUEUE_NAME").unwrap_or("").to_string(),
            status: get("STATUS").unwrap_or("").to_string(),
            max: num("MAX")?,
            njobs: num("NJOBS")?,
            pend: num("PEND")?,
            run: num("RUN")?,
            susp: num("SUSP")?,
        });
    }
    Ok(out)
}

/// Reads `bqueues -o "queue_name status ..." -json` (`{"COMMAND":"bqueues","QUEUES":n,
/// "RECORDS":[...]}`); QUEUE_NAME and STATUS are required, counts are read when present.
pub fn parse_bqueues_json(stdout: &str) -> Result<Vec<QueueLoad>, ParseError> {
    // "Please wait" lines may precede any output (found by fuzzing: they made the reading an
    // error). Skipped here, and counted so error lines still point into `stdout`.
    let mut doc_text = stdout;
    let mut skipped = 0;
    while let Some((first, rest)) = doc_text.split_once('\n')
        && is_wait_chatter(first)
    {
        doc_text = rest;
        skipped += 1;
    }
    let doc: Value = serde_json::from_str(doc_text).map_err(|e| {
        // Never past the last line (a document cut short ends after its last newline).
        let line = (skipped + e.line().max(1)).min(stdout.lines().count().max(1));
        let text = stdout.lines().nth(line - 1).unwrap_or("");
        let msg = e.to_string();
        // serde_json's position is relative to the document; ours is the line above.
        let msg = msg
            .rsplit_once(" at line ")
            .map_or(msg.as_str(), |(m, _)| m);
        ParseError::new(
            Some(line),
            text,
            format!("a bqueues -json document (JSON error: {msg})"),
        )
    })?;
    let records = doc
        .get("RECORDS")
        .and_then(Value::as_array)
        .ok_or_else(|| ParseError::new(None, &doc.to_string(), "a RECORDS array"))?;
    let mut out = Vec::new();
    for rec in records {
        let found = rec.to_string();
        let text = |k: &str| {
            rec.get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .trim()
                .to_string()
        };
        let num = |k: &str| {
            count(&text(k)).map_err(|_| ParseError::new(None, &found, format!("a number in {k}")))
        };
        let name = text("QUEUE_NAME");
        let status = text("STATUS");
        if name.is_empty() || status.is_empty() {
            return Err(ParseError::new(None, &found, "QUEUE_NAME and STATUS"));
        }
        out.push(QueueLoad {
            name,
            status,
            max: num("MAX")?,
            njobs: num("NJOBS")?,
            pend: num("PEND")?,
            run: num("RUN")?,
            susp: num("SUSP")?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_with_limits() {
        let q = parse_bqueues(
            "QUEUE_NAME      PRIO STATUS          MAX JL/U JL/P JL/H NJOBS  PEND   RUN  SUSP \n\
             normal           30   Open:Active     10    -    -    -     7     2     4     1\n",
        );
        assert_eq!(
            q,
            Ok(vec![QueueLoad {
                name: "normal".into(),
                status: "Open:Active".into(),
                max: Some(10),
                njobs: Some(7),
                pend: Some(2),
                run: Some(4),
                susp: Some(1),
            }])
        );
    }

    /// Found by fuzzing: "Please wait" before the document made it unreadable.
    #[test]
    fn json_after_wait_chatter() {
        let doc = r#"{"COMMAND":"bqueues","QUEUES":1,"RECORDS":[{"QUEUE_NAME":"short","STATUS":"Open:Active","NJOBS":"3"}]}"#;
        let q = parse_bqueues_json(&format!("Cannot connect to LSF. Please wait ...\n{doc}\n"));
        assert_eq!(
            q.map(|v| v.into_iter().map(|q| (q.name, q.njobs)).collect::<Vec<_>>()),
            Ok(vec![("short".to_string(), Some(3))])
        );
        let e = parse_bqueues_json("LSF is busy. Please wait ...\n{\"RECORDS\": [\n");
        assert_eq!(
            e.map_err(|e| (e.line, e.found)),
            Err((Some(2), "{\"RECORDS\": [".to_string()))
        );
    }

    #[test]
    fn table_with_garbage_counts_is_an_error() {
        let q = parse_bqueues(
            "QUEUE_NAME PRIO STATUS MAX JL/U JL/P JL/H NJOBS PEND RUN SUSP\nq 1 Open:Active - - - - x 0 0 0\n",
        );
        assert_eq!(q.map_err(|e| e.line), Err(Some(2)));
    }
}
