//! Schedulers: the backends that run points (local processes, LSF).

pub mod lsf;
