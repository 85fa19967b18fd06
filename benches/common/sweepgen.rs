//! Builds large recorded sweeps straight into a store, without running anything: the store
//! benches and `examples/bigsweep.rs` (for timing `bsweep status` on 100,000 points) share it.
//! Included with `#[path]` (from a subdirectory, so cargo does not take it for a bench).
#![allow(dead_code)] // each includer uses its own subset

use std::path::Path;

use bsweep::layout::Home;
use bsweep::model::{AttemptRec, JobId, PointRec, State, names};
use bsweep::spec::{BackendKind, Spec};
use bsweep::store::{Store, StoreError, SweepMeta};

pub const SWEEP_ID: &str = "3fa9c1";

/// A local sweep file of `n` points running `true`: four axes like a real grid when `n` is a
/// multiple of 1,000, else one.
pub fn spec_text(name: &str, n: u64) -> String {
    let grid = if n.is_multiple_of(1000) && n > 0 {
        format!(
            "lr = {{ logspace = [1e-5, 1e-1, 10] }}\ndepth = {{ start = 1, stop = 11 }}\n\
             wd = {{ linspace = [0.0, 0.1, 10] }}\nseed = {{ start = 0, stop = {} }}\n",
            n / 1000
        )
    } else {
        format!("i = {{ start = 0, stop = {n} }}\n")
    };
    format!("name = \"{name}\"\ncommand = \"true\"\nbackend = \"local\"\n[grid]\n{grid}")
}

/// What the points look like: all waiting, all done, or a sweep under way
/// (70% done, 5% failed, 25% not yet submitted).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Shape {
    Unsubmitted,
    Done,
    Mixed,
}

impl Shape {
    pub fn parse(s: &str) -> Option<Shape> {
        match s {
            "unsubmitted" => Some(Shape::Unsubmitted),
            "done" => Some(Shape::Done),
            "mixed" => Some(Shape::Mixed),
            _ => None,
        }
    }
}

/// The record of a finished first attempt of point `index`, as the engine leaves it.
pub fn finished(index: u64, state: State) -> AttemptRec {
    let t = 1_760_000_000.0 + index as f64;
    let mut a = submitted(index);
    a.exit_code = Some(if state == State::Done { 0 } else { 1 });
    a.started = Some(t + 1.5);
    a.run_seconds = Some(59.75);
    a.ended = Some(t + 61.25);
    a.end(state, t + 61.25);
    a
}

/// A submitted attempt, as recorded right after bsub answered.
pub fn submitted(index: u64) -> AttemptRec {
    let t = 1_760_000_000.0 + index as f64;
    let mut a = AttemptRec::intent(1, names::job(SWEEP_ID, index, 1), 0, t);
    a.accept(JobId::new((200_000 + index).to_string()), None, t);
    a
}

/// Records sweep `name` with `n` points of the given shape in `home`, and returns it open.
pub fn create(home: &Home, name: &str, n: u64, shape: Shape) -> Result<Store, StoreError> {
    let text = spec_text(name, n);
    let source = home.root().join(format!("{name}.toml"));
    let spec = Spec::from_toml(&text, Path::new(&source)).expect("generated sweep file parses");
    assert_eq!(spec.count(), n);
    let meta = SweepMeta {
        name: name.to_string(),
        id: SWEEP_ID.to_string(),
        created: 1_760_000_000.0,
        source,
        spec_text: text,
        backend: BackendKind::Local,
        count: n,
        param_names: spec.param_names(),
        targets: vec!["local".to_string()],
        host: None,
        remote_home: None,
        cluster_dir: None,
    };
    let points = spec.points().map(|p| {
        let attempts = match (shape, p.index % 20) {
            (Shape::Unsubmitted, _) | (Shape::Mixed, 15..) => vec![],
            (Shape::Mixed, 14) => vec![finished(p.index, State::Failed)],
            _ => vec![finished(p.index, State::Done)],
        };
        PointRec {
            index: p.index,
            params: p.params,
            attempts,
        }
    });
    Store::create(home, meta, points, "bench", &mut |_| {})
}
