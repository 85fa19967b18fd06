//! Slurm: pure command builders and output parsers (`parse`); the scheduler that runs them
//! through a transport comes on top of this API.

pub mod parse;
