//! LSF's own JSON layout for `-json`: 2-space indent, no space after ':', every value a string,
//! and '/' escaped as "\/" (as in the real captures).

/// One record: keys in the order the -o list asked for them.
pub type Record = Vec<(String, String)>;

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' => out.push_str("\\/"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// `{"COMMAND":cmd, count_key:n, "RECORDS":[...]}`; bjobs counts in "JOBS", bqueues in "QUEUES".
pub fn document(command: &str, count_key: &str, records: &[Record]) -> String {
    let mut s = String::new();
    s.push_str("{\n");
    s.push_str(&format!("  \"COMMAND\":\"{}\",\n", escape(command)));
    s.push_str(&format!("  \"{count_key}\":{},\n", records.len()));
    s.push_str("  \"RECORDS\":[\n");
    for (i, rec) in records.iter().enumerate() {
        s.push_str("    {\n");
        for (j, (k, v)) in rec.iter().enumerate() {
            let comma = if j + 1 < rec.len() { "," } else { "" };
            s.push_str(&format!(
                "      \"{}\":\"{}\"{comma}\n",
                escape(k),
                escape(v)
            ));
        }
        s.push_str(if i + 1 < records.len() {
            "    },\n"
        } else {
            "    }\n"
        });
    }
    s.push_str("  ]\n}\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_lsf() {
        let recs = vec![vec![
            ("JOBID".to_string(), "7".to_string()),
            ("EXEC_CWD".to_string(), "/home/u".to_string()),
        ]];
        let doc = document("bjobs", "JOBS", &recs);
        assert_eq!(
            doc,
            "{\n  \"COMMAND\":\"bjobs\",\n  \"JOBS\":1,\n  \"RECORDS\":[\n    {\n      \"JOBID\":\"7\",\n      \"EXEC_CWD\":\"\\/home\\/u\"\n    }\n  ]\n}\n"
        );
        let v: serde_json::Value = serde_json::from_str(&doc).unwrap();
        assert_eq!(v["RECORDS"][0]["EXEC_CWD"], "/home/u");
    }
}
