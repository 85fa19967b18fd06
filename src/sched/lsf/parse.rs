//! Pure parsers for what LSF commands print (bsub, bjobs, bkill, bqueues, lsid, job output trailer).
