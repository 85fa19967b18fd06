//! `bjobs -o ... -json`: LSF's JSON document read in one pass, records straight into a
//! [`BjobsReading`] without building a JSON tree (a poll of 100,000 jobs).

use super::*;

fn json_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Byte offset of the first line that opens a JSON object ("Please wait" lines may come first).
pub(super) fn json_start(text: &str) -> Option<usize> {
    let mut off = 0;
    for l in text.split_inclusive('\n') {
        let body = l.trim_start();
        if body.starts_with('{') {
            return Some(off + l.len() - body.len());
        }
        off += l.len();
    }
    None
}

/// Reads `bjobs -o "..." -json` output: `{"COMMAND":"bjobs","JOBS":n,"RECORDS":[{...}]}`, all
/// values strings. A record with an `ERROR` key (`"Job <13> is not found"`) is a missing job.
pub fn parse_bjobs_json(stdout: &str, stderr: &str) -> Result<BjobsReading, ParseError> {
    let mut reading = BjobsReading::default();
    let Some(start) = json_start(stdout) else {
        reading.side_text(stdout);
        reading.side_text(stderr);
        return Ok(reading);
    };
    // The usual document goes straight into records; anything unusual (a value that is not a
    // string, a malformed record, an error to report) is read again the general way, which
    // gives the same reading or the error with its line.
    let mut stream = serde_json::Deserializer::from_str(&stdout[start..]).into_iter::<FastDoc>();
    let Some(Ok(doc)) = stream.next() else {
        return parse_bjobs_json_value(stdout, stderr, start);
    };
    let end = start + stream.byte_offset();
    reading.side_text(&stdout[..start]);
    reading.records = doc.0.records;
    reading.not_found.extend(doc.0.not_found);
    reading.messages.extend(doc.0.messages);
    reading.side_text(&stdout[end..]);
    reading.side_text(stderr);
    Ok(reading)
}

/// A record with an `ERROR` key: a missing job, or LSF's message about job `id`.
fn error_record(reading: &mut BjobsReading, msg: String, id: &str) {
    match not_found_id(&msg) {
        Some(id) => reading.not_found.push(id),
        None => {
            if id.is_empty() || msg.contains(id) {
                reading.messages.push(msg);
            } else {
                reading.messages.push(format!("Job <{id}>: {msg}"));
            }
        }
    }
}

/// [`parse_bjobs_json`] through a `serde_json::Value` of the whole document: slower, reads any
/// JSON, and places errors.
pub(super) fn parse_bjobs_json_value(
    stdout: &str,
    stderr: &str,
    start: usize,
) -> Result<BjobsReading, ParseError> {
    let mut reading = BjobsReading::default();
    reading.side_text(&stdout[..start]);
    let lines_before = stdout[..start].matches('\n').count();
    let mut stream = serde_json::Deserializer::from_str(&stdout[start..]).into_iter::<Value>();
    let doc = match stream.next() {
        Some(Ok(v)) => v,
        Some(Err(e)) => {
            // A document cut short ends "on" the line after its last newline, which does not
            // exist: point at the last line instead (found by fuzzing).
            let line = (lines_before + e.line().max(1)).min(stdout.lines().count().max(1));
            let text = stdout.lines().nth(line - 1).unwrap_or("");
            // serde_json's message ends in a position relative to the slice; ours is absolute.
            let msg = e.to_string();
            let msg = msg
                .rsplit_once(" at line ")
                .map_or(msg.as_str(), |(m, _)| m);
            return Err(ParseError::new(
                Some(line),
                text,
                format!("a bjobs -json document (JSON error: {msg})"),
            ));
        }
        None => return Ok(reading),
    };
    let end = start + stream.byte_offset();
    let first_line = stdout.lines().nth(lines_before).unwrap_or("");
    let doc_err = |what: &str| ParseError::new(Some(lines_before + 1), first_line, what);
    let obj = doc.as_object().ok_or_else(|| {
        doc_err("a bjobs -json object {\"COMMAND\":\"bjobs\",...,\"RECORDS\":[...]}")
    })?;
    let records = obj
        .get("RECORDS")
        .and_then(Value::as_array)
        .ok_or_else(|| doc_err("a RECORDS array (the bjobs -json envelope)"))?;
    // Checked after RECORDS: a lone record has a COMMAND key too (the job's command line).
    if let Some(cmd) = obj.get("COMMAND")
        && cmd.as_str() != Some("bjobs")
    {
        return Err(doc_err("COMMAND \"bjobs\""));
    }
    for rec in records {
        let found = || rec.to_string();
        let r = rec
            .as_object()
            .ok_or_else(|| ParseError::new(None, &found(), "a JSON object in RECORDS"))?;
        if let Some(err) = r.get("ERROR") {
            let id = r.get("JOBID").map(json_text).unwrap_or_default();
            error_record(&mut reading, json_text(err), &id);
            continue;
        }
        let vals: Vals<'_> = RECORD_KEYS.map(|k| r.get(k).map(|v| Cow::Owned(json_text(v))));
        let rec = build_record(&vals, None, &found, &mut reading.messages)?;
        reading.records.push(rec);
    }
    reading.side_text(&stdout[end..]);
    reading.side_text(stderr);
    Ok(reading)
}

/// A bjobs -json document read straight into a [`BjobsReading`] (records, missing jobs and
/// record messages; no side text), with no `Value` tree in between. Fails on anything
/// [`parse_bjobs_json_value`] must look at: a non-string value, a bad record, a wrong COMMAND.
struct FastDoc(BjobsReading);

/// A string value, borrowed when it has no escapes. Anything else (LSF prints only strings)
/// fails the fast reading.
struct Text<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// A key, compared without being copied.
struct Key<const RECORD: bool>(Option<usize>);

/// Keys of the envelope that matter.
const DOC_COMMAND: usize = 0;
const DOC_RECORDS: usize = 1;
const DOC_JOBS: usize = 2;
/// A record's `ERROR` key; other keys are their [`RECORD_KEYS`] position.
const REC_ERROR: usize = RECORD_KEYS.len();

impl<'de, const RECORD: bool> Deserialize<'de> for Key<RECORD> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<const RECORD: bool>;
        impl<'de, const RECORD: bool> Visitor<'de> for V<RECORD> {
            type Value = Key<RECORD>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<RECORD>, E> {
                Ok(Key(match (RECORD, v) {
                    (false, "COMMAND") => Some(DOC_COMMAND),
                    (false, "RECORDS") => Some(DOC_RECORDS),
                    (false, "JOBS") => Some(DOC_JOBS),
                    (false, _) => None,
                    (true, "ERROR") => Some(REC_ERROR),
                    (true, _) => record_key(v),
                }))
            }
        }
        d.deserialize_str(V::<RECORD>)
    }
}

impl<'de> Deserialize<'de> for FastDoc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(DocVisitor)
    }
}

struct DocVisitor;

impl<'de> Visitor<'de> for DocVisitor {
    type Value = FastDoc;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a bjobs -json object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FastDoc, A::Error> {
        let mut reading = BjobsReading::default();
        let mut seen_records = false;
        while let Some(Key(k)) = map.next_key::<Key<false>>()? {
            match k {
                Some(DOC_COMMAND) => {
                    if map.next_value::<Text>()?.0 != "bjobs" {
                        return Err(de::Error::custom("COMMAND is not bjobs"));
                    }
                }
                Some(DOC_JOBS) => {
                    // LSF prints the count before RECORDS: room for them all at once saves
                    // copying 100,000 records while the vector grows. Capped: it is input. Any
                    // other JSON there sends the document to the general reading.
                    let n = map.next_value::<u64>()?;
                    reading.records.reserve(n.min(1 << 20) as usize);
                }
                Some(_) if !seen_records => {
                    seen_records = true;
                    map.next_value_seed(Records(&mut reading))?;
                }
                Some(_) => return Err(de::Error::custom("RECORDS twice")),
                None => {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
        }
        if !seen_records {
            return Err(de::Error::custom("no RECORDS"));
        }
        Ok(FastDoc(reading))
    }
}

/// The RECORDS array, each record added to the reading as it is read.
struct Records<'r>(&'r mut BjobsReading);

impl<'de> DeserializeSeed<'de> for Records<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Records<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a RECORDS array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Record(&mut *self.0))?.is_some() {}
        Ok(())
    }
}

struct Record<'r>(&'r mut BjobsReading);

impl<'de> DeserializeSeed<'de> for Record<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Record<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object in RECORDS")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut vals: Vals<'de> = Default::default();
        let mut error: Option<Cow<'de, str>> = None;
        while let Some(Key(k)) = map.next_key::<Key<true>>()? {
            match k {
                Some(REC_ERROR) => error = Some(map.next_value::<Text>()?.0),
                Some(i) => vals[i] = Some(map.next_value::<Text>()?.0),
                None => {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
        }
        let reading = self.0;
        if let Some(msg) = error {
            let id = vals[K_JOBID].as_deref().unwrap_or_default();
            error_record(reading, msg.into_owned(), id);
            return Ok(());
        }
        // An error needs the record's text, which only the general reading has.
        let rec = build_record(&vals, None, &String::new, &mut reading.messages)
            .map_err(|_| de::Error::custom("bad record"))?;
        reading.records.push(rec);
        Ok(())
    }
}
