//! Tests of the bjobs readers on real outputs and on generated ones.

use super::json::{json_start, parse_bjobs_json_value};
use super::*;

const HEAD: &str =
    "JOBID   USER    STAT  QUEUE      FROM_HOST   EXEC_HOST   JOB_NAME   SUBMIT_TIME\n";

fn table(rows: &str) -> BjobsReading {
    match parse_bjobs_table(&format!("{HEAD}{rows}"), "") {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn blank_exec_host_for_pending_jobs() {
    let r =
        table("473713  gloessa PEND  pub.1h     brutus2                 TM-T       Oct 19 17:10\n");
    let rec = &r.records[0];
    assert_eq!(rec.stat, Stat::Pend);
    assert!(rec.exec_hosts.is_empty());
    assert_eq!(rec.job_name.as_deref(), Some("TM-T"));
    assert_eq!(rec.submit_time.as_deref(), Some("Oct 19 17:10"));
}

#[test]
fn blank_exec_host_with_a_spaced_name() {
    let r = parse_bjobs_table(
        "JOBID USER  STAT  QUEUE    FROM_HOST   EXEC_HOST  JOB_NAME   SUBMIT_TIME\n\
         5310  user5 PSUSP night    hostA                  sleep 500  Nov 21 18:17\n",
        "",
    );
    let rec = &r.map(|r| r.records).unwrap_or_default()[0];
    assert!(rec.exec_hosts.is_empty());
    assert_eq!(rec.job_name.as_deref(), Some("sleep 500"));
}

#[test]
fn names_with_spaces_and_present_exec_host() {
    let r = table(
        "5085585 pluskal RUN   normal     tak         it-c05b12   phenix.autobuild autobuild_config.eff Oct 31 14:05\n",
    );
    let rec = &r.records[0];
    assert_eq!(rec.exec_hosts, ["it-c05b12"]);
    assert_eq!(
        rec.job_name.as_deref(),
        Some("phenix.autobuild autobuild_config.eff")
    );
}

/// OpenLava's -w table: a pending job's EXEC_HOST is `   -   `, not blank.
#[test]
fn dash_exec_host_of_a_pending_job() {
    let r = table(
        "108     root    PEND  normal     vm             -        arr[1]     Dec  1 07:08\n\
         107     root    PEND  long       vm             -        lab_pending Dec  1 07:08\n",
    );
    assert_eq!(r.records[0].job_id, "108[1]");
    assert_eq!(r.records[0].job_name.as_deref(), Some("arr[1]"));
    assert!(r.records[0].exec_hosts.is_empty());
    assert_eq!(r.records[1].job_name.as_deref(), Some("lab_pending"));
}

#[test]
fn long_from_host_does_not_hide_the_exec_host() {
    let r = table(
        "542935  efranz  RUN   short      foobar02.osc.edu compute013  foo        Mar 31 14:46\n",
    );
    assert_eq!(r.records[0].exec_hosts, ["compute013"]);
}

#[test]
fn multi_slot_hosts_and_continuation_lines() {
    let r = table(
        "1       u       RUN   normal     login1      8*m006      job        Jan  7 09:59\n\
         \x20                                            4*m007\n\
         \x20                                            m008\n",
    );
    assert_eq!(r.records[0].exec_hosts, ["m006", "m007", "m008"]);
    assert_eq!(r.records[0].submit_time.as_deref(), Some("Jan  7 09:59"));
    assert!(r.messages.is_empty());
}

#[test]
fn array_elements_get_element_ids() {
    let r = table(
        "554997  efranz  DONE  short      fromhost.osc compute030  *oarray[7] Apr 19 17:01\n",
    );
    assert_eq!(r.records[0].job_id, "554997[7]");
    assert_eq!(r.records[0].job_name.as_deref(), Some("*oarray[7]"));
}

#[test]
fn mixed_found_and_not_found() {
    let r = parse_bjobs_table(
        &format!(
            "{HEAD}111     user1   RUN   normal     hostA       hostB       myjob      Oct 22 09:22\n"
        ),
        "Job <123> is not found\nJob <124[2]> is not found\n",
    );
    let r = r.unwrap_or_default();
    assert_eq!(r.records.len(), 1);
    assert_eq!(r.records[0].job_id, "111");
    assert_eq!(r.not_found, ["123", "124[2]"]);
}

#[test]
fn unknown_stat_is_an_error_with_the_line() {
    let e = parse_bjobs_table(
        &format!("{HEAD}111     user1   POST_DONE normal hostA hostB myjob Oct 22 09:22\n"),
        "",
    );
    let Err(e) = e else {
        panic!("expected an error")
    };
    assert_eq!(e.line, Some(2));
    assert!(e.found.contains("POST_DONE"));
    assert!(e.expected.contains("STAT"));
}

#[test]
fn wide_w_columns() {
    let r = parse_bjobs_table(
        "JOBID   USER    STAT  QUEUE      FROM_HOST   EXEC_HOST   JOB_NAME   SUBMIT_TIME  PROJ_NAME CPU_USED MEM SWAP PIDS START_TIME FINISH_TIME\n\
         473713  gloessa EXIT  pub.1h     brutus2     a6128       TM-T       10/19-17:10:27 default    000:00:00.12 5208   206312 23177,23178 10/19-17:11:02 10/19-17:14:49\n",
        "",
    )
    .unwrap_or_default();
    let rec = &r.records[0];
    assert_eq!(rec.stat, Stat::Exit);
    assert_eq!(rec.submit_time.as_deref(), Some("10/19-17:10:27"));
    assert_eq!(rec.start_time.as_deref(), Some("10/19-17:11:02"));
    assert_eq!(rec.finish_time.as_deref(), Some("10/19-17:14:49"));
    assert_eq!(rec.cpu_seconds, Some(0.12));
}

#[test]
fn delimited_rows_with_dashes() {
    let fields = [
        "jobid",
        "stat",
        "exec_host",
        "exit_code",
        "max_mem",
        "run_time",
    ];
    let r = parse_bjobs_delimited(
        "1^EXIT^8*a:8*b^3^12 Kbytes^8 second(s)\n2^PEND^-^-^-^-\n",
        "Job <3> is not found\n",
        &fields,
        '^',
    )
    .unwrap_or_default();
    assert_eq!(r.records[0].exec_hosts, ["a", "b"]);
    assert_eq!(r.records[0].exit_code, Some(3));
    assert_eq!(r.records[0].max_mem_mb, Some(12.0 / 1024.0));
    assert_eq!(r.records[0].run_seconds, Some(8.0));
    assert!(r.records[1].exec_hosts.is_empty());
    assert_eq!(r.records[1].exit_code, None);
    assert_eq!(r.not_found, ["3"]);
}

#[test]
fn delimited_needs_jobid_and_stat() {
    assert!(parse_bjobs_delimited("1^x\n", "", &["jobid", "queue"], '^').is_err());
}

#[test]
fn delimited_unknown_stat_is_an_error() {
    let e = parse_bjobs_delimited("1^DONE\n2^WEIRD\n", "", &["jobid", "stat"], '^');
    assert_eq!(e.map_err(|e| e.line), Err(Some(2)));
}

#[test]
fn json_with_error_records() {
    let doc = r#"{"COMMAND":"bjobs","JOBS":2,"RECORDS":[
        {"JOBID":"12","STAT":"RUN","EXIT_CODE":"","EXEC_HOST":"9*node3","JOB_NAME":"qtb-x"},
        {"JOBID":"13","ERROR":"Job <13> is not found"},
        {"JOBID":"14","ERROR":"Permission denied"}]}"#;
    let r = parse_bjobs_json(doc, "").unwrap_or_default();
    assert_eq!(r.records.len(), 1);
    assert_eq!(r.records[0].exec_hosts, ["node3"]);
    assert_eq!(r.not_found, ["13"]);
    assert_eq!(r.messages, ["Job <14>: Permission denied"]);
}

#[test]
fn json_array_element_and_odd_metric() {
    let doc = r#"{"COMMAND":"bjobs","JOBS":1,"RECORDS":[
        {"JOBID":"7","STAT":"DONE","JOB_NAME":"bsw[3]","MAX_MEM":"5208","FINISH_TIME":"Dec 28 19:56 L"}]}"#;
    let r = parse_bjobs_json(doc, "").unwrap_or_default();
    assert_eq!(r.records[0].job_id, "7[3]");
    assert_eq!(r.records[0].max_mem_mb, None);
    assert_eq!(r.records[0].finish_time.as_deref(), Some("Dec 28 19:56"));
    assert_eq!(r.messages.len(), 1, "{:?}", r.messages);
}

/// Found by fuzzing: a truncated document was reported on a line past the end.
#[test]
fn truncated_json_points_at_its_last_line() {
    let e = parse_bjobs_json("Please wait ...\n{\"RECORDS\":[\n  {\"JOBID\":\"1\"}\n", "");
    assert_eq!(
        e.map_err(|e| (e.line, e.found)),
        Err((Some(3), "  {\"JOBID\":\"1\"}".to_string()))
    );
}

#[test]
fn fast_json_reading_is_the_general_one() {
    let docs = [
        // Escapes, an unknown key, an error record, an odd metric, chatter around.
        "Please wait\n{\"COMMAND\":\"bjobs\",\"JOBS\":3,\"RECORDS\":[\n\
         {\"JOBID\":\"1\",\"STAT\":\"RUN\",\"EXEC_CWD\":\"\\/h\",\"JOB_NAME\":\"a\\/b[2]\",\
         \"MAX_MEM\":\"12\",\"X\":{\"y\":[1,2]}},\n\
         {\"JOBID\":\"2\",\"ERROR\":\"Job <2> is not found\"},\n\
         {\"JOBID\":\"3\",\"ERROR\":\"Permission denied\"}]}\ntrailing words\n",
        // Duplicate keys: the last wins.
        r#"{"COMMAND":"bjobs","RECORDS":[{"JOBID":"4","STAT":"PEND","STAT":"DONE"}]}"#,
        // Values that are not strings: read by the general path.
        r#"{"COMMAND":"bjobs","RECORDS":[{"JOBID":5,"STAT":"DONE","QUEUE":null}]}"#,
        r#"{"COMMAND":"bjobs","RECORDS":[{"JOBID":"6","ERROR":null}]}"#,
        // Shapes the general path refuses, with its messages.
        r#"{"COMMAND":"bjobs","RECORDS":[{"JOBID":"7"}]}"#,
        r#"{"COMMAND":"ls -l","JOBID":"8","STAT":"RUN"}"#,
        r#"{"COMMAND":"bjobs","RECORDS":[1]}"#,
        r#"{"COMMAND":"bjobs","RECORDS":[],"RECORDS":[{"JOBID":"9","STAT":"RUN"}]}"#,
        "{\"COMMAND\":\"bjobs\",\"RECORDS\":[{\"JOBID\":\"10\",\"STAT\":\"DONE\"}]}} x",
        r#"{"COMMAND":"bjobs","RECORDS":[{"JOBID":"11","STAT":"RUN"}"#,
    ];
    for doc in docs {
        let start = json_start(doc).unwrap_or_default();
        assert_eq!(
            parse_bjobs_json(doc, "Job <99> is not found\n"),
            parse_bjobs_json_value(doc, "Job <99> is not found\n", start),
            "{doc}"
        );
    }
    let r = parse_bjobs_json(docs[0], "").unwrap_or_default();
    assert_eq!(r.records[0].job_id, "1[2]");
    assert_eq!(r.records[0].job_name.as_deref(), Some("a/b[2]"));
    assert_eq!(r.not_found, ["2"]);
    assert_eq!(r.messages.len(), 4, "{:?}", r.messages);
}

#[test]
fn json_missing_stat_is_an_error() {
    let doc = r#"{"COMMAND":"bjobs","JOBS":1,"RECORDS":[{"JOBID":"7"}]}"#;
    assert!(parse_bjobs_json(doc, "").is_err());
}

#[test]
fn argv_builders() {
    let ids = vec!["12".to_string(), "13[2]".to_string()];
    let fields = BJOBS_FIELDS.join(" ");
    assert_eq!(
        bjobs_json_args(&ids),
        ["-a", "-o", fields.as_str(), "-json", "12", "13[2]"]
    );
    let o = format!("{fields} delimiter='^'");
    assert_eq!(
        bjobs_delimited_args(&ids),
        ["-a", "-noheader", "-o", o.as_str(), "12", "13[2]"]
    );
    assert_eq!(bjobs_table_args(&ids), ["-a", "-w", "12", "13[2]"]);
}
