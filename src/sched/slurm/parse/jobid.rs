//! Job ids as squeue (`%i`) and sacct (`JobID`) print them: a job `14`, an array element
//! `16_1`, an array's tasks still pending together on one line `16_[2-4%1]`, a heterogeneous
//! job's component `7+0`. Typed, so a pending range is never taken for one element.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use super::ParseError;

/// One id from a squeue or sacct row.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SlurmJobId {
    /// A job that is not part of an array: `14`.
    Job { id: u64 },
    /// One element of an array: `16_1`. Its own (raw) id differs: `16_1` is job 17 in the
    /// captures, except for the array's last task, which keeps the array's id (`10_3` is 10).
    Element { array: u64, index: u32 },
    /// Tasks of an array that have not started, shown together: `16_[2-4%1]` (squeue without
    /// `-r`, and sacct). Their raw id is the array's.
    Tasks { array: u64, tasks: TaskSet },
    /// A component of a heterogeneous job: `7+0` (leader 7, offset 0).
    HetComponent { leader: u64, offset: u32 },
}

/// Array task indices as Slurm lists them: `2-4%1`, `1,3,5-7`; a list cut short by
/// SLURM_BITSTR_LEN ends in `...`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct TaskSet {
    pub ranges: Vec<TaskRange>,
    /// At most this many tasks run at once (`%K`).
    pub limit: Option<u32>,
    /// Slurm cut the list short: more tasks exist than `ranges` holds.
    pub truncated: bool,
}

/// Indices `first..=last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct TaskRange {
    pub first: u32,
    pub last: u32,
}

fn number<T: FromStr>(s: &str) -> Option<T> {
    (!s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

impl TaskSet {
    /// Reads the text between the brackets of `16_[2-4%1]`.
    pub fn parse(s: &str) -> Option<TaskSet> {
        let (body, truncated) = match s.strip_suffix("...") {
            Some(b) => (b, true),
            None => (s, false),
        };
        let (list, limit) = match body.split_once('%') {
            Some((l, k)) => (l, Some(number::<u32>(k)?)),
            None => (body, None),
        };
        let (list, truncated) = match list.strip_suffix("...") {
            Some(l) => (l, true),
            None => (list, truncated),
        };
        let items: Vec<&str> = list.split(',').collect();
        let mut ranges = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let range = match item.split_once('-') {
                Some((a, b)) => number::<u32>(a)
                    .zip(number::<u32>(b))
                    .map(|(first, last)| TaskRange { first, last }),
                None => number::<u32>(item).map(|n| TaskRange { first: n, last: n }),
            };
            match range {
                Some(r) if r.first <= r.last => ranges.push(r),
                // A list cut short may end inside its last item: what was cut is unknown.
                _ if truncated && i + 1 == items.len() && i > 0 => {}
                _ => return None,
            }
        }
        Some(TaskSet {
            ranges,
            limit,
            truncated,
        })
    }

    /// Whether `index` is among the listed tasks.
    pub fn contains(&self, index: u32) -> bool {
        self.ranges
            .iter()
            .any(|r| (r.first..=r.last).contains(&index))
    }

    /// How many tasks are listed (more exist when `truncated`).
    pub fn count(&self) -> u64 {
        self.ranges
            .iter()
            .map(|r| u64::from(r.last - r.first) + 1)
            .sum()
    }
}

impl fmt::Display for TaskSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if r.first == r.last {
                write!(f, "{}", r.first)?;
            } else {
                write!(f, "{}-{}", r.first, r.last)?;
            }
        }
        if self.truncated {
            f.write_str("...")?;
        }
        if let Some(k) = self.limit {
            write!(f, "%{k}")?;
        }
        Ok(())
    }
}

impl SlurmJobId {
    /// The job (or array) id this id names in `squeue -j` / `sacct -j` / `scancel`: the id
    /// itself, or for pending tasks their array's id, which selects every element of it.
    pub fn selector(&self) -> String {
        match self {
            SlurmJobId::Tasks { array, .. } => array.to_string(),
            other => other.to_string(),
        }
    }

    /// The id of the array this belongs to, or of the job itself (the het leader for a
    /// component).
    pub fn base(&self) -> u64 {
        match *self {
            SlurmJobId::Job { id } => id,
            SlurmJobId::Element { array, .. } | SlurmJobId::Tasks { array, .. } => array,
            SlurmJobId::HetComponent { leader, .. } => leader,
        }
    }
}

impl fmt::Display for SlurmJobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SlurmJobId::Job { id } => write!(f, "{id}"),
            SlurmJobId::Element { array, index } => write!(f, "{array}_{index}"),
            SlurmJobId::Tasks { array, tasks } => write!(f, "{array}_[{tasks}]"),
            SlurmJobId::HetComponent { leader, offset } => write!(f, "{leader}+{offset}"),
        }
    }
}

impl FromStr for SlurmJobId {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let parsed = if let Some((array, rest)) = t.split_once('_') {
            let array = number::<u64>(array);
            match rest.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
                Some(inner) => array
                    .zip(TaskSet::parse(inner))
                    .map(|(array, tasks)| SlurmJobId::Tasks { array, tasks }),
                None => array
                    .zip(number::<u32>(rest))
                    .map(|(array, index)| SlurmJobId::Element { array, index }),
            }
        } else if let Some((leader, offset)) = t.split_once('+') {
            number::<u64>(leader)
                .zip(number::<u32>(offset))
                .map(|(leader, offset)| SlurmJobId::HetComponent { leader, offset })
        } else {
            number::<u64>(t).map(|id| SlurmJobId::Job { id })
        };
        parsed.ok_or_else(|| {
            ParseError::new(
                None,
                t,
                "a Slurm job id (\"14\", \"16_1\", \"16_[2-4%1]\" or \"7+0\")",
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> SlurmJobId {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn every_form_reads_and_prints_back() {
        assert_eq!(id("14"), SlurmJobId::Job { id: 14 });
        assert_eq!(
            id("16_1"),
            SlurmJobId::Element {
                array: 16,
                index: 1
            }
        );
        assert_eq!(
            id("7+0"),
            SlurmJobId::HetComponent {
                leader: 7,
                offset: 0
            }
        );
        let pending = id("16_[2-4%1]");
        assert_eq!(
            pending,
            SlurmJobId::Tasks {
                array: 16,
                tasks: TaskSet {
                    ranges: vec![TaskRange { first: 2, last: 4 }],
                    limit: Some(1),
                    truncated: false,
                }
            }
        );
        for text in [
            "14",
            "16_1",
            "16_[2-4%1]",
            "7+0",
            "3_[1,3,5-7]",
            "3_[1-9,11...%4]",
        ] {
            assert_eq!(id(text).to_string(), text);
        }
    }

    #[test]
    fn pending_tasks_are_not_one_element() {
        let SlurmJobId::Tasks { tasks, .. } = id("16_[2-4%1]") else {
            panic!("not tasks");
        };
        assert!(tasks.contains(2) && tasks.contains(4) && !tasks.contains(1));
        assert_eq!(tasks.count(), 3);
        assert_eq!(id("16_[2-4%1]").selector(), "16");
        assert_eq!(id("16_1").selector(), "16_1");
        assert_eq!(id("16_[2-4%1]").base(), 16);
    }

    #[test]
    fn lists_cut_short_keep_what_they_show() {
        let SlurmJobId::Tasks { tasks, .. } = id("5_[1-3,7,9-...]") else {
            panic!("not tasks");
        };
        assert!(tasks.truncated);
        assert_eq!(
            tasks.ranges,
            [
                TaskRange { first: 1, last: 3 },
                TaskRange { first: 7, last: 7 }
            ]
        );
    }

    #[test]
    fn malformed_ids_are_errors() {
        for bad in [
            "",
            "x",
            "14.batch",
            "16_",
            "_1",
            "16_x",
            "16_[",
            "16_[]",
            "16_[4-2]",
            "16_[2-4%]",
            "16_[2-4%x]",
            "1_2_3",
            "7+",
            "+0",
            "99999999999999999999999",
            "16_4294967296",
            "-1",
            "16_[1-...",
            "1 2",
        ] {
            assert!(bad.parse::<SlurmJobId>().is_err(), "{bad:?}");
        }
    }
}
