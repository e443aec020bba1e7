//! Secret redaction: every secret routewise holds is masked in anything it relays or writes,
//! whatever an upstream sends back.
//!
//! Some upstreams and proxies quote the request's headers in their error bodies, so a provider's
//! API key can come back inside an error message. Providers mask their own key in every error
//! they build from upstream text, and the gateway masks every provider's key again in what it
//! answers and logs. A secret is matched as written, JSON-escaped and percent-encoded.

use aho_corasick::AhoCorasick;
use std::borrow::Cow;

/// What a masked secret becomes.
pub const REDACTED: &str = "[redacted]";

/// Secrets shorter than this are not masked: they are not real keys, and masking a two-letter
/// "key" would garble every message.
pub const MIN_SECRET_LEN: usize = 6;

/// Masks a fixed set of secrets in text.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// `None` when there is nothing to mask.
    secrets: Option<AhoCorasick>,
}

impl Redactor {
    /// A redactor for `secrets`; ones shorter than [`MIN_SECRET_LEN`] are ignored.
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Self {
        let mut patterns: Vec<String> = Vec::new();
        for secret in secrets.into_iter().filter(|s| s.len() >= MIN_SECRET_LEN) {
            for form in [
                secret.to_owned(),
                json_escaped(secret),
                percent_encoded(secret),
            ] {
                if !patterns.contains(&form) {
                    patterns.push(form);
                }
            }
        }
        // Longest first, so that a secret containing another is masked whole.
        patterns.sort_by_key(|p| std::cmp::Reverse(p.len()));
        let secrets = (!patterns.is_empty())
            .then(|| {
                AhoCorasick::builder()
                    .match_kind(aho_corasick::MatchKind::LeftmostLongest)
                    .build(&patterns)
                    .ok()
            })
            .flatten();
        Self { secrets }
    }

    /// Whether any secret is known.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_none()
    }

    /// `text` with every secret masked; borrowed when there was none.
    pub fn redact<'t>(&self, text: &'t str) -> Cow<'t, str> {
        match &self.secrets {
            Some(secrets) if secrets.is_match(text) => {
                Cow::Owned(secrets.replace_all(text, &vec![REDACTED; secrets.patterns_len()]))
            }
            _ => Cow::Borrowed(text),
        }
    }

    /// [`Redactor::redact`] in place.
    pub fn redact_in_place(&self, text: &mut String) {
        if let Cow::Owned(masked) = self.redact(text) {
            *text = masked;
        }
    }
}

fn json_escaped(secret: &str) -> String {
    let quoted = serde_json::to_string(secret).unwrap_or_default();
    quoted
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(secret)
        .to_owned()
}

fn percent_encoded(secret: &str) -> String {
    secret
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn masks_secrets_as_written_escaped_and_encoded() {
        let redactor = Redactor::new(["sk-abc/123\"x", "other-key-9"]);
        let text = r#"Authorization: Bearer sk-abc/123"x; echo {"k": "sk-abc/123\"x"} url=sk-abc%2F123%22x and other-key-9"#;
        let masked = redactor.redact(text);
        assert!(!masked.contains("sk-abc"), "{masked}");
        assert!(!masked.contains("other-key-9"), "{masked}");
        assert_eq!(masked.matches(REDACTED).count(), 4, "{masked}");
    }

    #[test]
    fn short_or_no_secrets_change_nothing() {
        let redactor = Redactor::new(["ab", ""]);
        assert!(redactor.is_empty());
        assert!(matches!(redactor.redact("ab ab"), Cow::Borrowed("ab ab")));
    }

    proptest! {
        /// Secrets share no character with the mask itself, so a masked text cannot show one
        /// again across the mask's edge.
        #[test]
        fn no_secret_survives_redaction(
            secret in "[A-Z0-9_+=/%\"\\-]{6,40}",
            before in "\\PC{0,40}",
            after in "\\PC{0,40}",
        ) {
            let redactor = Redactor::new([secret.as_str()]);
            let masked = redactor.redact(&format!("{before}{secret}{after}")).into_owned();
            prop_assert!(!masked.contains(&secret), "{masked}");
        }
    }
}
