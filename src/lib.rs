//! bsweep: parameter sweeps on IBM Spectrum LSF clusters (and the local machine) that survive
//! disconnects and crashes. ARCHITECTURE.md describes the layers; imports point down:
//! `cli` → `app` → `engine` → `sched` → `transport`, all over `model`, `layout`, `spec`,
//! `store`, `view` and `collect`.

pub mod app;
pub mod cli;
pub mod collect;
pub mod engine;
pub mod layout;
pub mod model;
pub mod report;
pub mod sched;
pub mod shell;
pub mod spec;
pub mod store;
pub mod summary;
pub mod transport;
pub mod view;

/// An error and its causes on one line (`what: why: why`), for notes printed while a sweep is
/// followed; the CLI prints a final error's causes on lines of their own.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        // A message that already ends with its cause (`transparent` wrappers) adds nothing.
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::error_chain;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Middle);

    #[derive(Debug, thiserror::Error)]
    enum Middle {
        #[error(transparent)]
        Io(#[from] std::io::Error),
    }

    #[test]
    fn chains_causes_on_one_line_without_repeating_transparent_ones() {
        let e = Outer(Middle::Io(std::io::Error::other("disk on fire")));
        assert_eq!(error_chain(&e), "outer: disk on fire");
        let plain = std::io::Error::other("alone");
        assert_eq!(error_chain(&plain), "alone");
    }
}
