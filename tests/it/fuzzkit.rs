//! Text mutations shared by the fuzz tests (`fuzz_parsers`, `fuzz_spec`): small edits that turn
//! a real input into a near-miss.
#![allow(dead_code)] // each fuzz file uses its own subset of the mutations

use proptest::sample::Index;

/// One change to a text. Positions are `Index`es, scaled to the text they are applied to.
#[derive(Debug, Clone)]
pub enum Mutation {
    Delete(Index, usize),
    Duplicate(Index, usize),
    Insert(Index, String),
    Replace(Index, usize, String),
    Truncate(Index),
    /// Removes a whole line.
    DropLine(Index),
    /// Repeats a whole line.
    DupLine(Index),
}

/// The char boundary at or before `i`.
pub fn floor(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

pub fn line_span(s: &str, at: Index) -> Option<(usize, usize)> {
    let starts: Vec<usize> = std::iter::once(0)
        .chain(s.match_indices('\n').map(|(i, _)| i + 1))
        .filter(|&i| i < s.len())
        .collect();
    if starts.is_empty() {
        return None;
    }
    let a = starts[at.index(starts.len())];
    let b = s[a..].find('\n').map_or(s.len(), |i| a + i + 1);
    Some((a, b))
}

pub fn mutate(text: &str, ops: &[Mutation]) -> String {
    let mut s = text.to_string();
    for op in ops {
        let pos = |i: &Index, s: &str| floor(s, i.index(s.len() + 1));
        match op {
            Mutation::Delete(i, n) => {
                let a = pos(i, &s);
                let b = floor(&s, a + n);
                s.replace_range(a..b, "");
            }
            Mutation::Duplicate(i, n) => {
                let a = pos(i, &s);
                let b = floor(&s, a + n);
                let piece = s[a..b].to_string();
                s.insert_str(b, &piece);
            }
            Mutation::Insert(i, t) => {
                let a = pos(i, &s);
                s.insert_str(a, t);
            }
            Mutation::Replace(i, n, t) => {
                let a = pos(i, &s);
                let b = floor(&s, a + n);
                s.replace_range(a..b, t);
            }
            Mutation::Truncate(i) => {
                let a = pos(i, &s);
                s.truncate(a);
            }
            Mutation::DropLine(i) => {
                if let Some((a, b)) = line_span(&s, *i) {
                    s.replace_range(a..b, "");
                }
            }
            Mutation::DupLine(i) => {
                if let Some((a, b)) = line_span(&s, *i) {
                    let mut line = s[a..b].to_string();
                    if !line.ends_with('\n') {
                        line.insert(0, '\n');
                    }
                    s.insert_str(b, &line);
                }
            }
        }
    }
    s
}
