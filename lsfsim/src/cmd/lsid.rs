//! lsid: the version banner, cluster name and master host.

use crate::config::Version;
use crate::state::State;
use crate::{Ctx, Out};

/// `_LS_VERSION_` of the captured OpenLava build (its date is the build's `__DATE__`).
pub const OPENLAVA_BANNER: &str = "OpenLava 4.0dev4, Dec  1 2026";

pub fn run(ctx: &mut Ctx, _st: &mut State, _argv: &[String]) -> Out {
    let mut out = Out::default();
    match ctx.cfg.version {
        Version::Lsf10 => {
            out.line("IBM Spectrum LSF Community Edition 10.1.0.15, May 13 2025");
            out.line("Copyright IBM Corp. 1992, 2016. All rights reserved.");
            out.line("US Government Users Restricted Rights - Use, duplication or disclosure restricted by GSA ADP Schedule Contract with IBM Corp.");
        }
        Version::Old => {
            out.line("LSF 3.0, Dec 10, 1996");
            out.line("Copyright 1992-1996 Platform Computing Corporation");
        }
        // `puts(_LS_VERSION_)`: the banner ends in a newline of its own, hence the blank line.
        Version::Openlava => out.line(OPENLAVA_BANNER),
    }
    out.line("");
    out.line(format!("My cluster name is {}", ctx.cfg.cluster_name));
    out.line(format!("My master name is {}", ctx.cfg.master()));
    out
}
