//! Records a large local sweep straight into a bsweep home, without running anything, so whole
//! commands can be timed on it (see benches/README.md):
//!
//! ```sh
//! cargo run --release --example bigsweep -- HOME NAME [POINTS] [unsubmitted|done|mixed]
//! target/release/bsweep --home HOME status NAME
//! ```

#[path = "../benches/common/sweepgen.rs"]
mod sweepgen;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: bigsweep HOME NAME [POINTS (100000)] [unsubmitted|done|mixed (mixed)]";
    let (Some(home), Some(name)) = (args.first(), args.get(1)) else {
        eprintln!("{usage}");
        return ExitCode::from(2);
    };
    let n: u64 = match args.get(2).map(|s| s.parse()) {
        None => 100_000,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            eprintln!("{usage}");
            return ExitCode::from(2);
        }
    };
    let Some(shape) = sweepgen::Shape::parse(args.get(3).map_or("mixed", String::as_str)) else {
        eprintln!("{usage}");
        return ExitCode::from(2);
    };
    let home = bsweep::layout::Home::new(PathBuf::from(home));
    let t = Instant::now();
    match sweepgen::create(&home, name, n, shape) {
        Ok(store) => {
            eprintln!(
                "recorded sweep {name} ({n} points, {shape:?}) in {} in {:.2?}",
                store.dir().display(),
                t.elapsed()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bigsweep: {e}");
            ExitCode::FAILURE
        }
    }
}
