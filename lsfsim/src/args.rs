//! LSF-style option parsing (`-q normal`, `-noheader`, `-J name`) and shell-word splitting of
//! `#BSUB` lines.

/// What a command accepts: options taking a value and bare flags, both without the dash.
pub struct Spec<'a> {
    pub valued: &'a [&'a str],
    pub flags: &'a [&'a str],
    /// bsub: the first non-option word starts the command; everything after belongs to it.
    pub stop_at_positional: bool,
}

#[derive(Debug, Default)]
pub struct Parsed {
    /// Options in order, value `None` for flags.
    pub opts: Vec<(String, Option<String>)>,
    pub positional: Vec<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum ArgError {
    Unknown(String),
    MissingValue(String),
}

impl Parsed {
    pub fn has(&self, name: &str) -> bool {
        self.opts.iter().any(|(n, _)| n == name)
    }

    /// The last value given for `name` (later options override earlier ones, as in LSF).
    pub fn value(&self, name: &str) -> Option<&str> {
        self.opts
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }
}

pub fn parse(args: &[String], spec: &Spec) -> Result<Parsed, ArgError> {
    let mut out = Parsed::default();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            out.positional.extend(args[i + 1..].iter().cloned());
            break;
        }
        if a.len() > 1 && a.starts_with('-') {
            let name = &a[1..];
            if spec.valued.contains(&name) {
                let v = args
                    .get(i + 1)
                    .ok_or_else(|| ArgError::MissingValue(name.to_string()))?;
                out.opts.push((name.to_string(), Some(v.clone())));
                i += 2;
                continue;
            }
            if spec.flags.contains(&name) {
                out.opts.push((name.to_string(), None));
                i += 1;
                continue;
            }
            return Err(ArgError::Unknown(name.to_string()));
        }
        if spec.stop_at_positional {
            out.positional.extend(args[i..].iter().cloned());
            break;
        }
        out.positional.push(a.clone());
        i += 1;
    }
    Ok(out)
}

/// Splits one line into words the way sh would for simple quoting: '...', "...", backslash, and
/// an unquoted `#` at a word start begins a comment.
pub fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\r' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '#' if !in_word => break,
            '\'' => {
                in_word = true;
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    cur.push(q);
                }
            }
            '"' => {
                in_word = true;
                while let Some(q) = chars.next() {
                    match q {
                        '"' => break,
                        '\\' if matches!(chars.peek(), Some('"' | '\\' | '$' | '`')) => {
                            cur.push(chars.next().unwrap_or('\\'));
                        }
                        _ => cur.push(q),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            _ => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn words_handle_quotes_and_comments() {
        assert_eq!(
            shell_words(r#"-R "rusage[mem=20G]" -J 'a b' x\ y # trailing"#),
            s(&["-R", "rusage[mem=20G]", "-J", "a b", "x y"])
        );
        assert_eq!(shell_words(r#"-J "sw[1-10]%2""#), s(&["-J", "sw[1-10]%2"]));
    }

    #[test]
    fn parse_stops_at_command() {
        let spec = Spec {
            valued: &["q", "J"],
            flags: &["x"],
            stop_at_positional: true,
        };
        let p = parse(&s(&["-q", "a", "-x", "sleep", "-q", "1"]), &spec).unwrap();
        assert_eq!(p.value("q"), Some("a"));
        assert!(p.has("x"));
        assert_eq!(p.positional, s(&["sleep", "-q", "1"]));
        assert_eq!(
            parse(&s(&["-z"]), &spec).unwrap_err(),
            ArgError::Unknown("z".into())
        );
    }
}
