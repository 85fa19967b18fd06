//! Integration tests: the built `lsfsim` installed as bsub/bjobs/... in temp dirs, driven like a
//! real cluster, its output checked against the line shapes of the real LSF captures.

mod common;
mod faults;
mod formats;
mod jobs;
mod openlava;
mod pack;
