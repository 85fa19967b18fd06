//! The `{name}` template language of `command` and `workdir`.
//!
//! `{name}` (an identifier) is a placeholder, `{{` and `}}` are literal braces, and every other
//! brace is literal text, so shell snippets like `awk '{print $1}'` need no escaping.

use std::borrow::Cow;

/// Names every template may use besides the parameters. `repeat` is here too so a command keeps
/// working when `repeats` is lowered to 1 (it then renders as 0).
pub(crate) const BUILTINS: [&str; 6] =
    ["sweep", "index", "out_dir", "job_name", "attempt", "repeat"];

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Piece<'t> {
    Lit(Cow<'t, str>),
    /// A placeholder and the byte offset of its `{` in the template.
    Name(&'t str, usize),
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Splits a template into literal text and placeholders.
pub(crate) fn parse(t: &str) -> Vec<Piece<'_>> {
    let bytes = t.as_bytes();
    let mut pieces = Vec::new();
    let mut lit = String::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' if bytes.get(i + 1) == Some(&b'{') => {
                lit.push('{');
                i += 2;
            }
            b'}' if bytes.get(i + 1) == Some(&b'}') => {
                lit.push('}');
                i += 2;
            }
            b'{' if bytes.get(i + 1).is_some_and(|&b| is_ident_start(b)) => {
                let start = i + 1;
                let mut end = start;
                while end < bytes.len() && is_ident(bytes[end]) {
                    end += 1;
                }
                if bytes.get(end) == Some(&b'}') {
                    if !lit.is_empty() {
                        pieces.push(Piece::Lit(Cow::Owned(std::mem::take(&mut lit))));
                    }
                    pieces.push(Piece::Name(&t[start..end], i));
                    i = end + 1;
                } else {
                    lit.push('{');
                    i += 1;
                }
            }
            _ => {
                // Copy up to the next brace in one go; braces are ASCII so this stays on char
                // boundaries.
                let next = bytes[i + 1..]
                    .iter()
                    .position(|&b| b == b'{' || b == b'}')
                    .map_or(bytes.len(), |p| i + 1 + p);
                lit.push_str(&t[i..next]);
                i = next;
            }
        }
    }
    if !lit.is_empty() {
        pieces.push(Piece::Lit(Cow::Owned(lit)));
    }
    pieces
}

/// Placeholders of `t` (with byte offsets) that `known` does not accept.
pub(crate) fn unknown_names(t: &str, known: impl Fn(&str) -> bool) -> Vec<(&str, usize)> {
    parse(t)
        .into_iter()
        .filter_map(|p| match p {
            Piece::Name(n, at) if !known(n) => Some((n, at)),
            _ => None,
        })
        .collect()
}

/// Substitutes placeholders through `lookup`; names it does not know stay as written.
pub(crate) fn render<'v>(t: &str, lookup: impl Fn(&str) -> Option<Cow<'v, str>>) -> String {
    let mut out = String::with_capacity(t.len() + 32);
    for piece in parse(t) {
        match piece {
            Piece::Lit(s) => out.push_str(&s),
            Piece::Name(n, _) => match lookup(n) {
                Some(v) => out.push_str(&v),
                None => {
                    out.push('{');
                    out.push_str(n);
                    out.push('}');
                }
            },
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(t: &str) -> Vec<&str> {
        parse(t)
            .into_iter()
            .filter_map(|p| match p {
                Piece::Name(n, _) => Some(n),
                Piece::Lit(_) => None,
            })
            .collect()
    }

    fn fill(t: &str) -> String {
        render(t, |n| Some(Cow::Owned(n.to_uppercase())))
    }

    #[test]
    fn placeholders_and_escapes() {
        assert_eq!(fill("run {lr} --x={x_1}"), "run LR --x=X_1");
        assert_eq!(fill("{{lr}} {{ }}"), "{lr} { }");
        assert_eq!(fill("{{{lr}}}"), "{LR}");
        assert_eq!(fill("awk '{print $1}' {f}"), "awk '{print $1}' F");
        assert_eq!(fill("{ lr } {1x} {} { {lr"), "{ lr } {1x} {} { {lr");
        assert_eq!(fill("ünïcode {a}é}"), "ünïcode Aé}");
        assert_eq!(names("a {b} {{c}} {d}"), vec!["b", "d"]);
    }

    #[test]
    fn offsets_point_at_the_brace() {
        assert_eq!(unknown_names("ab {x} {y}", |n| n == "x"), vec![("y", 7)]);
    }

    #[test]
    fn unknown_names_stay_literal_when_rendering() {
        assert_eq!(render("a {b} c", |_| None), "a {b} c");
    }
}
