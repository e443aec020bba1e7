//! Reading a chat completion request body, with errors written for the client: which field is
//! wrong (`param`, e.g. `messages[0].content`) and what it should be, never a Rust type name.

use crate::chat::ChatCompletionRequest;
use thiserror::Error;

/// Why a request body is not a chat completion request.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct RequestError {
    /// The field at fault, as a JSON path (`messages[0].role`); `None` for the body as a whole.
    pub param: Option<String>,
    pub message: String,
}

/// Parses a chat completion request body.
pub fn parse_chat_request(body: &[u8]) -> Result<ChatCompletionRequest, RequestError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let request: ChatCompletionRequest = serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|err| {
            let path = err.path().to_string();
            // serde_json reports some type errors (a number where an enum is expected) as
            // syntax errors; in a body that is valid JSON they are about the field.
            let valid_json = serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok();
            describe(err.into_inner(), &path, valid_json)
        })?;
    deserializer
        .end()
        .map_err(|err| describe(err, ".", false))?;
    Ok(request)
}

fn describe(err: serde_json::Error, path: &str, valid_json: bool) -> RequestError {
    let position = format!("line {}, column {}", err.line(), err.column());
    let raw = err.to_string();
    // serde_json appends " at line L column C"; the client gets it once, in words.
    let detail = raw
        .rsplit_once(" at line ")
        .map_or(raw.as_str(), |(detail, _)| detail);
    let category = match err.classify() {
        serde_json::error::Category::Syntax if valid_json => serde_json::error::Category::Data,
        category => category,
    };
    let data = category == serde_json::error::Category::Data;
    let mut param = (data && path != "." && !path.contains('?')).then(|| path.to_owned());
    let message = match category {
        serde_json::error::Category::Eof => {
            "the body is empty or cut short: send a JSON object with `model` and `messages`"
                .to_owned()
        }
        serde_json::error::Category::Syntax => {
            format!("the body is not valid JSON ({detail} at {position})")
        }
        serde_json::error::Category::Io => format!("the body could not be read: {detail}"),
        serde_json::error::Category::Data => {
            if let Some(field) = missing_field(detail) {
                let field = match &param {
                    Some(parent) => format!("{parent}.{field}"),
                    None => field.to_owned(),
                };
                let message = format!("`{field}` is required");
                param = Some(field);
                message
            } else {
                let what = param
                    .as_deref()
                    .map_or_else(|| "the body".to_owned(), |p| format!("`{p}`"));
                format!("{what} is not valid: {}", plain_words(detail))
            }
        }
    };
    RequestError { param, message }
}

/// `missing field `x`` -> `x`.
fn missing_field(detail: &str) -> Option<&str> {
    detail
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'))
}

/// serde's "expected struct ChatMessage" in words a client knows.
fn plain_words(detail: &str) -> String {
    const NAMES: [(&str, &str); 5] = [
        (
            "struct ChatCompletionRequest",
            "a JSON object with `model` and `messages`",
        ),
        (
            "struct ChatMessage",
            "a message object such as {\"role\": \"user\", \"content\": \"...\"}",
        ),
        (
            "struct ContentPart",
            "a content part object such as {\"type\": \"text\", \"text\": \"...\"}",
        ),
        (
            "struct StreamOptions",
            "an object such as {\"include_usage\": true}",
        ),
        (
            "enum Role",
            "one of system, developer, user, assistant, tool",
        ),
    ];
    if detail == "expected value" {
        return "it has the wrong type for this field".to_owned();
    }
    let mut text = detail.to_owned();
    for (rust, words) in NAMES {
        text = text.replace(rust, words);
    }
    // Any other type name: "struct X" or "enum X".
    for kind in ["struct ", "enum "] {
        while let Some(start) = text.find(kind) {
            let end = text[start + kind.len()..]
                .find(|c: char| !c.is_alphanumeric() && c != '_')
                .map_or(text.len(), |i| start + kind.len() + i);
            text.replace_range(start..end, "an object");
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn error(body: &str) -> RequestError {
        parse_chat_request(body.as_bytes()).unwrap_err()
    }

    #[test]
    fn a_valid_request_parses() {
        let request = parse_chat_request(
            br#"{"model": "auto", "messages": [{"role": "user", "content": "hi"}]}"#,
        )
        .unwrap();
        assert_eq!(request.model, "auto");
    }

    #[test]
    fn errors_name_the_field_and_no_rust_type() {
        let cases = [
            (
                r#"{"model": "auto"}"#,
                Some("messages"),
                "`messages` is required",
            ),
            (r#"{"messages": []}"#, Some("model"), "`model` is required"),
            (
                r#"{"model": "auto", "messages": [{"role": "user", "content": 5}]}"#,
                Some("messages[0].content"),
                "a string, or an array of content parts",
            ),
            (
                r#"{"model": "auto", "messages": [{"role": "robot", "content": "x"}]}"#,
                Some("messages[0].role"),
                "unknown variant `robot`",
            ),
            (
                r#""a string""#,
                None,
                "a JSON object with `model` and `messages`",
            ),
            (
                r#"{"model": "auto", "messages": [1]}"#,
                Some("messages[0]"),
                "a message object",
            ),
            (
                r#"{"model": "auto", "messages": [{"role": "user", "content": [{"text": "x"}]}]}"#,
                Some("messages[0].content[0].type"),
                "is required",
            ),
            ("", None, "empty or cut short"),
            ("{nope", None, "not valid JSON"),
            (
                r#"{"model": "auto", "messages": []} extra"#,
                None,
                "not valid JSON",
            ),
        ];
        for (body, param, needle) in cases {
            let err = error(body);
            assert_eq!(err.param.as_deref(), param, "{body}: {err:?}");
            assert!(err.message.contains(needle), "{body}: {}", err.message);
            for rust in ["struct ", "enum ", "untagged", "MessageContent"] {
                assert!(!err.message.contains(rust), "{body}: {}", err.message);
            }
        }
    }

    proptest! {
        #[test]
        fn any_body_is_parsed_or_refused_in_words(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Err(err) = parse_chat_request(&body) {
                prop_assert!(!err.message.is_empty());
                prop_assert!(!err.message.contains("struct "), "{}", err.message);
            }
        }

        #[test]
        fn json_of_any_shape_is_parsed_or_refused_in_words(
            model in prop_oneof![Just("\"auto\"".to_owned()), Just("1".to_owned()), Just("null".to_owned())],
            content in prop_oneof![Just("\"x\"".to_owned()), Just("[]".to_owned()), Just("{}".to_owned()), Just("[{\"type\": 1}]".to_owned())],
            role in prop_oneof![Just("\"user\"".to_owned()), Just("\"x\"".to_owned()), Just("3".to_owned())],
        ) {
            let body = format!(r#"{{"model": {model}, "messages": [{{"role": {role}, "content": {content}}}]}}"#);
            if let Err(err) = parse_chat_request(body.as_bytes()) {
                prop_assert!(err.param.is_some(), "{body}: {err:?}");
                prop_assert!(!err.message.contains("struct "), "{}", err.message);
                prop_assert!(!err.message.contains("enum "), "{}", err.message);
            }
        }
    }
}
