//! bsweep's integration tests, in one binary (one link step): the real `bsweep` binary run
//! locally, against the LSF simulator, over a private sshd, and against real services where
//! this machine has them. `cargo test NAME` runs the tests whose path contains NAME.

mod harness;

mod debug_cli;
mod fuzz_parsers;
mod fuzz_spec;
mod fuzzkit;
mod hardening;
mod local_e2e;
mod login;
mod lsf_fixtures;
mod lsf_sim;
mod lsf_submit;
mod openlava;
mod openlava_sim;
mod plan_cli;
mod recover;
mod remote;
mod report_browser;
mod retry;
mod slurm_fixtures;
mod slurm_real;
mod spec_files;
mod spec_swap;
mod ssh_cli;
mod ssh_transport;
mod summary_cli;
mod summary_report;
mod torture;
