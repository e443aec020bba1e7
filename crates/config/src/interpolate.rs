//! `${VAR}` and `${VAR:-default}` expansion in config text, before TOML parsing, so that any
//! value (a URL, a port, a price) can come from the environment.
//!
//! `$${` writes a literal `${`. Lines whose first non-blank character is `#` are comments and are
//! left alone, so commented-out examples never demand variables. Secrets should not be
//! interpolated at all: providers name the variable that holds their key (`api_key_env`), so keys
//! never appear in the compiled config.

use crate::error::{ConfigError, FieldError};

/// Expands variables; every missing variable (without a default) is reported with its line.
pub fn expand(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(text.len());
    let mut errors = Vec::new();
    for (line_index, line) in text.split_inclusive('\n').enumerate() {
        if line.trim_start().starts_with('#') {
            out.push_str(line);
            continue;
        }
        expand_line(line, line_index + 1, env, &mut out, &mut errors);
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ConfigError::Interpolation { errors, file: None })
    }
}

fn expand_line(
    line: &str,
    line_number: usize,
    env: &dyn Fn(&str) -> Option<String>,
    out: &mut String,
    errors: &mut Vec<FieldError>,
) {
    let mut rest = line;
    while let Some(start) = rest.find('$') {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
            continue;
        }
        let Some(body_and_tail) = after.strip_prefix("${") else {
            out.push('$');
            rest = &after[1..];
            continue;
        };
        let Some(end) = body_and_tail.find('}') else {
            errors.push(FieldError::new(
                format!("line {line_number}"),
                "`${` is not closed by `}` (write `$${` for a literal `${`)",
            ));
            out.push_str(after);
            return;
        };
        let body = &body_and_tail[..end];
        let (name, default) = match body.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (body, None),
        };
        if !is_variable_name(name) {
            errors.push(FieldError::new(
                format!("line {line_number}"),
                format!("`${{{body}}}` is not a valid variable reference: names are letters, digits and `_`"),
            ));
        } else {
            // An empty value counts as unset when a default is given, as in POSIX shells.
            let value = env(name).filter(|v| !v.is_empty() || default.is_none());
            match (value, default) {
                (Some(value), _) => out.push_str(&value),
                (None, Some(default)) => out.push_str(default),
                (None, None) => errors.push(FieldError::new(
                    format!("line {line_number}"),
                    format!("environment variable `{name}` is not set (set it, or write `${{{name}:-default}}`)"),
                )),
            }
        }
        rest = &body_and_tail[end + 1..];
    }
    out.push_str(rest);
}

fn is_variable_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("127.0.0.1".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_set_variables_and_defaults() {
        let text = "a = \"${HOST}\"\nb = \"${PORT:-8080}\"\nc = \"${EMPTY:-fallback}\"\nd = \"$5 and $${literal}\"\n";
        assert_eq!(
            expand(text, &env).unwrap(),
            "a = \"127.0.0.1\"\nb = \"8080\"\nc = \"fallback\"\nd = \"$5 and ${literal}\"\n"
        );
    }

    #[test]
    fn reports_every_missing_variable_with_its_line() {
        let err = expand(
            "a = \"${NOPE}\"\n# b = \"${IGNORED}\"\nc = \"${ALSO_NOPE}\"\n",
            &env,
        )
        .unwrap_err();
        let errors = err.field_errors();
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].path, "line 1");
        assert!(errors[0].message.contains("NOPE"));
        assert_eq!(errors[1].path, "line 3");
    }

    #[test]
    fn rejects_unclosed_and_invalid_references() {
        assert_eq!(
            expand("a = \"${HOST\"", &env)
                .unwrap_err()
                .field_errors()
                .len(),
            1
        );
        assert_eq!(
            expand("a = \"${1BAD}\"", &env)
                .unwrap_err()
                .field_errors()
                .len(),
            1
        );
    }

    proptest! {
        #[test]
        fn text_without_dollars_is_unchanged(text in "[^$]{0,200}") {
            prop_assert_eq!(expand(&text, &env).unwrap(), text);
        }

        #[test]
        fn never_panics(text in "\\PC{0,100}") {
            let _ = expand(&text, &env);
        }
    }
}
