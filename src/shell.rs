//! Shell quoting: the one place where a value becomes a shell word.

use std::borrow::Cow;

/// Quotes `s` as a single POSIX shell word; plain words are left as they are.
///
/// Values cannot hold NUL bytes (the sweep file validation refuses them), which is the only thing
/// `shlex` cannot quote, so the fallback is never reached for validated input.
pub fn quote(s: &str) -> Cow<'_, str> {
    match shlex::try_quote(s) {
        Ok(q) => q,
        // A NUL byte cannot travel in a shell word at all; dropping it is the only inert choice.
        Err(_) => Cow::Owned(
            shlex::try_quote(&s.replace('\0', ""))
                .unwrap_or_default()
                .into_owned(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn plain_words_stay_plain() {
        assert_eq!(quote("0.01"), "0.01");
        assert_eq!(quote("resnet-50"), "resnet-50");
    }

    #[test]
    fn hostile_values_become_one_word() {
        let v = r#"a b; rm -rf ~ $(id) 'x""#;
        let q = quote(v);
        assert_ne!(q, v);
        let words = shlex::split(&q).expect("quoted value splits");
        assert_eq!(words, vec![v.to_string()]);
    }
}
