//! The simulated LSF commands, plus what several of them share (job id syntax, name matching).

pub mod bhist;
pub mod bjobs;
pub mod bkill;
pub mod bmgroup;
pub mod bqueues;
pub mod bsub;
pub mod fields;
pub mod long;
pub mod lsid;
pub mod pack;

use crate::state::{Elem, Job};

/// `123` or `123[4]` (an array element).
pub fn parse_job_id(s: &str) -> Option<(u64, Option<u32>)> {
    if let Some(open) = s.find('[') {
        let id = s[..open].parse().ok()?;
        let idx = s[open + 1..].strip_suffix(']')?.parse().ok()?;
        Some((id, Some(idx)))
    } else {
        s.parse().ok().map(|id| (id, None))
    }
}

/// `-J` matching: the job's name, or an element's `name[i]`; `*` is a wildcard.
pub fn name_matches(pattern: &str, job: &Job, e: &Elem) -> bool {
    glob(pattern, &job.name) || (job.is_array() && glob(pattern, &job.elem_name(e)))
}

fn glob(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == s;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !s.starts_with(first) || s.len() < first.len() + last.len() || !s.ends_with(last) {
        return false;
    }
    let mut rest = &s[first.len()..s.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// The usage text an old (OpenLava-lineage) bjobs prints on a bad option.
pub fn old_bjobs_usage(cmd: &str) -> String {
    format!(
        "Usage: {cmd} [-h] [-V] [-w |-l] [-a] [-d] [-p] [-s] [-r] [-g jobgroup_name]\n             \
         [-A] [-m host_name] [-q queue_name] [-u user_name | -u all]                     \
         [-P project_name] [-N host_spec] [-J name_spec] [-UF]\n             \
         [jobId | \"jobId[idxList]\" ...]\n"
    )
}

/// Parses a command's options, or answers as an old LSF/glibc getopt does on an option it does
/// not know: `CMD: invalid option -- 'X'` and the command's usage, exit 255.
pub fn parse_or_usage(
    ctx: &crate::Ctx,
    argv: &[String],
    spec: &crate::args::Spec,
    usage: &str,
) -> Result<crate::args::Parsed, Box<crate::Out>> {
    crate::args::parse(argv, spec).map_err(|e| {
        let (crate::args::ArgError::Unknown(o) | crate::args::ArgError::MissingValue(o)) = e;
        Box::new(crate::Out::fail(format!(
            "{}: invalid option -- '{}'\n{usage}",
            ctx.argv0,
            o.chars().next().unwrap_or('?')
        )))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids() {
        assert_eq!(parse_job_id("123"), Some((123, None)));
        assert_eq!(parse_job_id("123[4]"), Some((123, Some(4))));
        assert_eq!(parse_job_id("12x"), None);
        assert_eq!(parse_job_id("1[2"), None);
    }

    #[test]
    fn globs() {
        assert!(glob("bsw-*", "bsw-1-2"));
        assert!(glob("*-2", "bsw-1-2"));
        assert!(glob("a*c*e", "abcde"));
        assert!(!glob("a*c*e", "abde"));
        assert!(glob("exact", "exact"));
        assert!(!glob("exact", "exactly"));
    }
}
