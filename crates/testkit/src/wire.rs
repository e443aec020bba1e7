//! Response bodies in the OpenAI and Anthropic shapes, built from a scripted text.

use serde_json::{Value, json};

/// The token counts a reply reports: scripted, or whitespace-separated words of the request's
/// messages and of the reply text (deterministic, which is all tests need).
pub(crate) fn usage_for(
    request: &Value,
    content: &str,
    scripted: Option<(u64, u64)>,
) -> (u64, u64) {
    scripted.unwrap_or_else(|| (count_request_words(request), count_words(content)))
}

fn count_words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

fn count_request_words(request: &Value) -> u64 {
    let text_of = |content: &Value| -> u64 {
        match content {
            Value::String(s) => count_words(s),
            Value::Array(parts) => parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .map(count_words)
                .sum(),
            _ => 0,
        }
    };
    let messages = request
        .get("messages")
        .and_then(Value::as_array)
        .map(|m| m.iter().filter_map(|m| m.get("content")).map(text_of).sum())
        .unwrap_or(0);
    messages + request.get("system").map(text_of).unwrap_or(0)
}

/// The text split into stream pieces: the first word, then each following word with its space.
pub(crate) fn pieces(content: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, word) in content.split(' ').enumerate() {
        if i == 0 {
            out.push(word.to_owned());
        } else {
            out.push(format!(" {word}"));
        }
    }
    out
}

pub(crate) fn openai_completion(model: &str, content: &str, usage: (u64, u64)) -> Value {
    json!({
        "id": "chatcmpl-mock",
        "object": "chat.completion",
        "created": 1_700_000_000u64,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": usage.0, "completion_tokens": usage.1,
                  "total_tokens": usage.0 + usage.1}
    })
}

pub(crate) fn openai_chunk(model: &str, delta: Value, finish_reason: Option<&str>) -> String {
    let chunk = json!({
        "id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1_700_000_000u64,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]
    });
    format!("data: {chunk}\n\n")
}

pub(crate) fn openai_usage_chunk(model: &str, usage: (u64, u64)) -> String {
    let chunk = json!({
        "id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 1_700_000_000u64,
        "model": model, "choices": [],
        "usage": {"prompt_tokens": usage.0, "completion_tokens": usage.1,
                  "total_tokens": usage.0 + usage.1}
    });
    format!("data: {chunk}\n\n")
}

pub(crate) fn openai_error(status: u16) -> Value {
    json!({"error": {"message": format!("mock upstream failure {status}"),
                     "type": "api_error", "param": null, "code": null}})
}

pub(crate) fn anthropic_message(model: &str, content: &str, usage: (u64, u64)) -> Value {
    json!({
        "id": "msg_mock", "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": content}],
        "stop_reason": "end_turn", "stop_sequence": null,
        "usage": {"input_tokens": usage.0, "output_tokens": usage.1}
    })
}

pub(crate) fn anthropic_event(payload: &Value) -> String {
    let name = payload
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    format!("event: {name}\ndata: {payload}\n\n")
}

pub(crate) fn anthropic_error(status: u16) -> Value {
    let kind = match status {
        429 => "rate_limit_error",
        529 => "overloaded_error",
        400 => "invalid_request_error",
        401 => "authentication_error",
        _ => "api_error",
    };
    json!({"type": "error", "error": {"type": kind, "message": format!("mock upstream failure {status}")}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_rejoin_to_the_text() {
        let text = "the quick  brown fox";
        assert_eq!(pieces(text).concat(), text);
    }

    #[test]
    fn usage_counts_words_of_messages_and_system() {
        let request = json!({"system": "be brief",
            "messages": [{"role": "user", "content": "one two three"},
                         {"role": "user", "content": [{"type": "text", "text": "four"}]}]});
        assert_eq!(usage_for(&request, "a b", None), (6, 2));
        assert_eq!(usage_for(&request, "a b", Some((10, 20))), (10, 20));
    }
}
