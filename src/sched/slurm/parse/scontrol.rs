//! `scontrol show config`: the settings a client plans by (`Key = Value` lines; the rest of
//! the output, and `grep`ped excerpts of it, are read the same way).

use serde::Serialize;

use super::{ParseError, QueryError, failed};

/// `scontrol show config`.
pub fn scontrol_config_args() -> Vec<String> {
    ["scontrol", "show", "config"].map(str::to_string).to_vec()
}

/// The settings bsweep uses; `None` when the output does not list one.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct SlurmConfig {
    /// MaxArraySize: array indices go from 0 to this minus one; 0 disables arrays.
    pub max_array_size: Option<u32>,
    /// MinJobAge: how long a finished job stays in squeue, at least (Slurm purges it on its
    /// next cleaning pass after that, up to about 30 s later).
    pub min_job_age_seconds: Option<u64>,
    /// SLURM_VERSION, e.g. `22.05.8`.
    pub version: Option<String>,
    pub cluster_name: Option<String>,
}

impl SlurmConfig {
    /// The largest array index allowed, if arrays are allowed at all.
    pub fn max_array_index(&self) -> Option<u32> {
        self.max_array_size.and_then(|n| n.checked_sub(1))
    }
}

fn seconds(v: &str) -> Option<u64> {
    let n = v.strip_suffix(" sec").unwrap_or(v).trim();
    (!n.is_empty() && n.len() <= 19 && n.bytes().all(|b| b.is_ascii_digit()))
        .then(|| n.parse().ok())
        .flatten()
}

/// Reads `scontrol show config` (or lines of it). A setting bsweep uses whose value does not
/// read is an error: planning with a wrong array limit is worse than not planning.
pub fn parse_scontrol_config(
    stdout: &str,
    stderr: &str,
    exit_code: Option<i32>,
) -> Result<SlurmConfig, QueryError> {
    let mut c = SlurmConfig::default();
    let mut any = false;
    for (i, line) in stdout.lines().enumerate() {
        let Some((key, v)) = line.split_once('=') else {
            continue;
        };
        let (key, v) = (key.trim(), v.trim());
        any = true;
        let bad = |expected: &str| QueryError::Unreadable {
            command: "scontrol",
            source: ParseError::new(Some(i + 1), line, expected),
        };
        match key {
            "MaxArraySize" => {
                c.max_array_size = Some(
                    seconds(v)
                        .and_then(|n| u32::try_from(n).ok())
                        .filter(|_| !v.contains(' '))
                        .ok_or_else(|| bad("a number for MaxArraySize"))?,
                )
            }
            "MinJobAge" => {
                c.min_job_age_seconds =
                    Some(seconds(v).ok_or_else(|| bad("seconds for MinJobAge (\"30 sec\")"))?)
            }
            "SLURM_VERSION" => c.version = (!v.is_empty()).then(|| v.to_string()),
            "ClusterName" => c.cluster_name = (!v.is_empty()).then(|| v.to_string()),
            _ => {}
        }
    }
    if !any && exit_code != Some(0) {
        return Err(failed("scontrol", stdout, stderr, exit_code));
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_and_their_units() {
        let out = "Configuration data as of 2026-12-01T08:02:38\n\
                   ClusterName             = lab\n\
                   MaxArraySize            = 1001\n\
                   MinJobAge               = 300 sec\n\
                   SLURM_VERSION           = 22.05.8\n";
        let c = parse_scontrol_config(out, "", Some(0)).expect("config");
        assert_eq!(
            c,
            SlurmConfig {
                max_array_size: Some(1001),
                min_job_age_seconds: Some(300),
                version: Some("22.05.8".into()),
                cluster_name: Some("lab".into()),
            }
        );
        assert_eq!(c.max_array_index(), Some(1000));
        let none = SlurmConfig {
            max_array_size: Some(0),
            ..SlurmConfig::default()
        };
        assert_eq!(none.max_array_index(), None);
    }

    #[test]
    fn unreadable_values_and_failures() {
        for bad in [
            "MaxArraySize = lots\n",
            "MaxArraySize = 1001 sec\n",
            "MaxArraySize = 99999999999\n",
            "MinJobAge = 30 min\n",
        ] {
            assert!(
                matches!(
                    parse_scontrol_config(bad, "", Some(0)),
                    Err(QueryError::Unreadable { .. })
                ),
                "{bad}"
            );
        }
        // Slurm 22.05.8's scontrol with its controller unreachable.
        assert!(matches!(
            parse_scontrol_config(
                "",
                "slurm_load_ctl_conf error: Unable to contact slurm controller (connect failure)\n",
                Some(1)
            ),
            Err(QueryError::Failed {
                kind: super::super::ErrorKind::Transient,
                ..
            })
        ));
        assert_eq!(
            parse_scontrol_config("", "", Some(0)),
            Ok(SlurmConfig::default())
        );
    }
}
