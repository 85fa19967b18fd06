//! bsweep: parameter sweeps on IBM Spectrum LSF clusters (and the local machine) that survive
//! disconnects and crashes.

pub mod cli;
pub mod collect;
pub mod engine;
pub mod report;
pub mod sched;
pub mod script;
pub mod shell;
pub mod spec;
pub mod store;
pub mod transport;
