//! bsweep: parameter sweeps on IBM Spectrum LSF clusters (and the local machine) that survive
//! disconnects and crashes.

pub mod sched;
pub mod shell;
pub mod spec;
