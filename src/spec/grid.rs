//! Grid axes and their streaming expansion into points.

use super::Point;

#[derive(Debug, Clone, Default)]
pub(crate) struct Grid {}

impl Grid {
    pub(crate) fn param_names(&self) -> Vec<String> {
        Vec::new()
    }
    pub(crate) fn count(&self) -> u64 {
        0
    }
    pub(crate) fn points(&self) -> Box<dyn Iterator<Item = Point> + '_> {
        Box::new(std::iter::empty())
    }
}
