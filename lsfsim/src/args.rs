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

/// What glibc's getopt(3) says about a bad option (`-o` for OpenLava's bjobs, a value missing).
#[derive(Debug, PartialEq, Eq)]
pub enum GetoptError {
    Invalid(char),
    MissingArg(char),
}

impl GetoptError {
    /// The line getopt prints on stderr: `bjobs: invalid option -- 'o'`.
    pub fn message(&self, argv0: &str) -> String {
        match self {
            GetoptError::Invalid(c) => format!("{argv0}: invalid option -- '{c}'"),
            GetoptError::MissingArg(c) => {
                format!("{argv0}: option requires an argument -- '{c}'")
            }
        }
    }
}

/// Options in order (a value for those that take one) and the other words.
pub type Getopt = (Vec<(char, Option<String>)>, Vec<String>);

/// getopt(3) as glibc does it, for the OpenLava commands: one-letter options clustered
/// (`-aw`), `x:` takes a value (glued, `-Jname`, or the next word), `x::` an optional glued
/// value (`-W`, `-WL`); so `-noheader` is `-n oheader` and `-json` fails at `j`. Non-options are
/// collected wherever they are (glibc permutes them); `--` ends the options.
pub fn getopt(args: &[String], optstring: &str) -> Result<Getopt, GetoptError> {
    let spec = |c: char| -> Option<usize> {
        let at = optstring.find(c).filter(|_| c != ':')?;
        Some(
            optstring[at + 1..]
                .chars()
                .take_while(|&x| x == ':')
                .count(),
        )
    };
    let (mut opts, mut rest) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == "--" {
            rest.extend(args[i..].iter().cloned());
            break;
        }
        if a.len() < 2 || !a.starts_with('-') {
            rest.push(a.clone());
            continue;
        }
        let chars: Vec<char> = a[1..].chars().collect();
        let mut k = 0;
        while k < chars.len() {
            let c = chars[k];
            k += 1;
            let glued: String = chars[k..].iter().collect();
            match spec(c) {
                None => return Err(GetoptError::Invalid(c)),
                Some(0) => opts.push((c, None)),
                Some(1) => {
                    let v = if !glued.is_empty() {
                        glued
                    } else if let Some(next) = args.get(i) {
                        i += 1;
                        next.clone()
                    } else {
                        return Err(GetoptError::MissingArg(c));
                    };
                    opts.push((c, Some(v)));
                    break;
                }
                Some(_) => {
                    opts.push((c, (!glued.is_empty()).then_some(glued)));
                    break;
                }
            }
        }
    }
    Ok((opts, rest))
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
    fn getopt_like_glibc() {
        let opt = "VladpsrwW::RAhJ:q:u:m:n:N:P:SU:g:";
        let (o, rest) = getopt(&s(&["-aw", "12", "-noheader", "-UF", "-Jx*", "-W"]), opt).unwrap();
        assert_eq!(
            o,
            vec![
                ('a', None),
                ('w', None),
                ('n', Some("oheader".into())),
                ('U', Some("F".into())),
                ('J', Some("x*".into())),
                ('W', None)
            ]
        );
        assert_eq!(rest, s(&["12"]));
        assert_eq!(
            getopt(&s(&["-q", "normal"]), opt).unwrap().0,
            vec![('q', Some("normal".into()))]
        );
        assert_eq!(getopt(&s(&["-json"]), opt), Err(GetoptError::Invalid('j')));
        assert_eq!(
            getopt(&s(&["-o", "jobid"]), opt),
            Err(GetoptError::Invalid('o'))
        );
        assert_eq!(getopt(&s(&["-q"]), opt), Err(GetoptError::MissingArg('q')));
        assert_eq!(
            GetoptError::Invalid('o').message("bjobs"),
            "bjobs: invalid option -- 'o'"
        );
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
