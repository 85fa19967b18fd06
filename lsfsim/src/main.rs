//! lsfsim: an LSF simulator for bsweep's tests, called as bsub/bjobs/bkill/bqueues/bhist/lsid.
fn main() {}
