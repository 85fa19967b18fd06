//! `lsid`: product, version, cluster and master host, and what the version lets bsweep use.

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

use super::ParseError;
use super::values::is_wait_chatter;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LsidInfo {
    /// The banner before the version: "IBM Spectrum LSF Community Edition", "LSF".
    pub product: String,
    /// As printed: "10.1.0.15", "10.1.0.0", "3.0".
    pub version: Option<String>,
    pub cluster: Option<String>,
    pub master: Option<String>,
}

// "IBM Spectrum LSF Standard 10.1.0.13, <date>" / "LSF 3.0, Dec 10, 1996" / "OpenLava
// 4.0dev4, Dec  1 2026" (a release suffix on the number; older builds end the version with
// " ;").
static BANNER_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(.*?(?:LSF|[Ll]ava)\b.*?)\s+([0-9]+(?:\.[0-9]+)+[A-Za-z0-9]*)\s*(?:[,;]|$)")
        .expect("static regex")
});
static PRODUCT_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\bLSF\b|[Oo]pen[Ll]ava").expect("static regex"));
static CLUSTER_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^My cluster name is (\S+)").expect("static regex"));
// Newer releases are said to print "management host" instead of "master" (unverified).
static MASTER_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^My (?:master|management host) name is (\S+)").expect("static regex")
});

/// Reads lsid's banner. Fails when there is no banner at all (for example
/// "lsid: ls_getmastername failed: LIM is down; try later").
pub fn parse_lsid(stdout: &str) -> Result<LsidInfo, ParseError> {
    let mut info: Option<LsidInfo> = None;
    let mut cluster = None;
    let mut master = None;
    for line in stdout.lines().map(str::trim) {
        // "Cannot connect to LSF. Please wait ..." names LSF: taken for the banner it hid the
        // real one (no version, so no -json) and made a failed lsid look like a success.
        // Found by fuzzing.
        if is_wait_chatter(line) {
            continue;
        }
        if info.is_none() {
            if let Some(c) = BANNER_RE.captures(line) {
                info = Some(LsidInfo {
                    product: c[1].trim().to_string(),
                    version: Some(c[2].to_string()),
                    cluster: None,
                    master: None,
                });
                continue;
            }
            if PRODUCT_RE.is_match(line) && !line.to_ascii_lowercase().contains("copyright") {
                // No version to read: the name, without a build date after a comma.
                let product = line
                    .split([',', ';'])
                    .map(str::trim)
                    .find(|p| PRODUCT_RE.is_match(p))
                    .unwrap_or(line);
                info = Some(LsidInfo {
                    product: product.to_string(),
                    version: None,
                    cluster: None,
                    master: None,
                });
                continue;
            }
        }
        if let Some(c) = CLUSTER_RE.captures(line) {
            cluster = Some(c[1].to_string());
        } else if let Some(c) = MASTER_RE.captures(line) {
            master = Some(c[1].to_string());
        }
    }
    let first = stdout.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let mut info = info.ok_or_else(|| {
        ParseError::new(Some(1), first, "an lsid banner naming LSF and its version")
    })?;
    info.cluster = cluster;
    info.master = master;
    Ok(info)
}

/// Whether `bjobs -o` with `-json` can be used: IBM Spectrum LSF 10.1.0.2 or later.
///
/// Decided from the numbers alone and only when they decide it: "10.1.0.15" yes, "10.1.0.0"
/// and "9.1.3" no, "10.1" (fix pack not shown) no, anything not called LSF (openlava) no.
/// Some installs report the base release without fix packs, so `false` means "not known to
/// work": probe before giving up on -json.
pub fn supports_o_and_json(info: &LsidInfo) -> bool {
    if !info.product.contains("LSF") {
        return false;
    }
    let Some(version) = &info.version else {
        return false;
    };
    let have: Option<Vec<u64>> = version.split('.').map(|p| p.parse().ok()).collect();
    let Some(have) = have else {
        return false;
    };
    let need = [10u64, 1, 0, 2];
    for (i, n) in need.iter().enumerate() {
        match have.get(i) {
            // Fewer components than needed and equal so far: cannot tell.
            None => return false,
            Some(h) if h > n => return true,
            Some(h) if h < n => return false,
            Some(_) => {}
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(product: &str, version: Option<&str>) -> LsidInfo {
        LsidInfo {
            product: product.into(),
            version: version.map(Into::into),
            cluster: None,
            master: None,
        }
    }

    #[test]
    fn json_support_by_version() {
        let lsf = "IBM Spectrum LSF Standard";
        assert!(supports_o_and_json(&v(lsf, Some("10.1.0.15"))));
        assert!(supports_o_and_json(&v(lsf, Some("10.1.0.2"))));
        assert!(supports_o_and_json(&v(lsf, Some("10.2"))));
        assert!(supports_o_and_json(&v(lsf, Some("11"))));
        assert!(!supports_o_and_json(&v(lsf, Some("10.1.0.0"))));
        assert!(!supports_o_and_json(&v(lsf, Some("10.1"))));
        assert!(!supports_o_and_json(&v(lsf, Some("9.1.3"))));
        assert!(!supports_o_and_json(&v(lsf, None)));
        assert!(!supports_o_and_json(&v(
            "openlava project",
            Some("10.1.0.15")
        )));
    }

    #[test]
    fn banner_variants() {
        let i = parse_lsid(
            "IBM Spectrum LSF Standard 10.1.0.13, Jan 1 2024\nMy cluster name is c\nMy management host name is m\n",
        );
        assert_eq!(
            i,
            Ok(LsidInfo {
                product: "IBM Spectrum LSF Standard".into(),
                version: Some("10.1.0.13".into()),
                cluster: Some("c".into()),
                master: Some("m".into()),
            })
        );
        assert!(parse_lsid("lsid: ls_getmastername failed: LIM is down; try later\n").is_err());
    }

    #[test]
    fn openlava_banners() {
        let i = parse_lsid("OpenLava 4.0dev4, Dec  1 2026\n\nMy cluster name is openlava\n");
        assert_eq!(
            i.as_ref()
                .map(|i| (i.product.as_str(), i.version.as_deref())),
            Ok(("OpenLava", Some("4.0dev4")))
        );
        let i = parse_lsid("openlava project 2.2 ; Nov  6 2013\n");
        assert_eq!(
            i.map(|i| (i.product, i.version)),
            Ok(("openlava project".to_string(), Some("2.2".to_string())))
        );
        let i = parse_lsid("OpenLava, Dec  1 2026\n");
        assert_eq!(
            i.map(|i| (i.product, i.version)),
            Ok(("OpenLava".to_string(), None))
        );
        // Found by fuzzing: a comma first left no name at all.
        let i = parse_lsid(",Sender: LSF System <lsf@h>\n");
        assert_eq!(
            i.map(|i| i.product),
            Ok("Sender: LSF System <lsf@h>".to_string())
        );
    }

    /// Found by fuzzing: the chatter line names LSF and was taken for the banner.
    #[test]
    fn wait_chatter_is_not_a_banner() {
        let chatter = "Cannot connect to LSF. Please wait ...\n";
        let i = parse_lsid(&format!(
            "{chatter}IBM Spectrum LSF Standard 10.1.0.13, Jan 1 2024\nMy cluster name is c\n"
        ));
        assert_eq!(
            i.map(|i| (i.product, i.version)),
            Ok((
                "IBM Spectrum LSF Standard".to_string(),
                Some("10.1.0.13".to_string())
            ))
        );
        assert!(parse_lsid(chatter).is_err());
        assert!(parse_lsid("LSF is processing your request. Please wait ...\n").is_err());
    }
}
