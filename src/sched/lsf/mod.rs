//! IBM Spectrum LSF: pure command builders and output parsers, and the code that runs them.

pub mod parse;
