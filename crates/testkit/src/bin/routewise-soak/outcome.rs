//! What became of one request, judged from the client's side: answered, failed cleanly (an
//! OpenAI-shaped error, or a stream that ends with an error event), or failed uncleanly (anything
//! an SDK would mistake for an answer or could not parse).

use futures::StreamExt;
use serde_json::Value;

/// The class of one request's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// A whole completion.
    Answered,
    /// An error the client can read: the HTTP status, or `stream error` for an error event.
    CleanFailure(String),
    /// A slow client the server cut off (closed, or answered 408) within its timeout.
    SlowCutOff,
    /// What must never happen, and why.
    Unclean(String),
}

impl Outcome {
    pub fn label(&self) -> String {
        match self {
            Self::Answered => "answered".to_owned(),
            Self::CleanFailure(why) => format!("clean failure: {why}"),
            Self::SlowCutOff => "slow client cut off".to_owned(),
            Self::Unclean(why) => format!("UNCLEAN: {why}"),
        }
    }
}

/// Judges a response to a chat completion request (`streamed` when it asked for a stream).
pub async fn judge(response: reqwest::Response, streamed: bool) -> Outcome {
    let status = response.status();
    if !status.is_success() {
        return judge_error(status.as_u16(), response).await;
    }
    if streamed {
        judge_stream(response).await
    } else {
        match response.json::<Value>().await {
            Ok(body) if body.pointer("/choices/0/message").is_some() => Outcome::Answered,
            Ok(_) => Outcome::Unclean("200 without a completion".to_owned()),
            Err(err) => Outcome::Unclean(format!("200 with a body that is not JSON: {err}")),
        }
    }
}

async fn judge_error(status: u16, response: reqwest::Response) -> Outcome {
    match response.json::<Value>().await {
        Ok(body) if body.pointer("/error/message").is_some_and(Value::is_string) => {
            Outcome::CleanFailure(status.to_string())
        }
        _ => Outcome::Unclean(format!("{status} without an OpenAI-shaped error body")),
    }
}

/// What a streamed answer showed: a finish reason, `[DONE]`, an error event.
#[derive(Debug, Default)]
struct StreamSeen {
    finished: bool,
    done: bool,
    error: bool,
}

impl StreamSeen {
    fn event(&mut self, data: &str) {
        if data == "[DONE]" {
            self.done = true;
            return;
        }
        let Ok(event) = serde_json::from_str::<Value>(data) else {
            return;
        };
        if event.get("error").is_some() {
            self.error = true;
        }
        if event
            .pointer("/choices/0/finish_reason")
            .is_some_and(|r| !r.is_null())
        {
            self.finished = true;
        }
    }
}

async fn judge_stream(response: reqwest::Response) -> Outcome {
    let mut seen = StreamSeen::default();
    let mut pending = String::new();
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let Ok(chunk) = chunk else {
            // The connection broke: clean only if an error event came first.
            return if seen.error {
                Outcome::CleanFailure("stream error event".to_owned())
            } else {
                Outcome::Unclean("stream broke off without an error event".to_owned())
            };
        };
        pending.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = pending.find('\n') {
            let line: String = pending.drain(..=end).collect();
            if let Some(data) = line.trim_end().strip_prefix("data:") {
                seen.event(data.trim());
            }
        }
    }
    match seen {
        StreamSeen { error: true, .. } => Outcome::CleanFailure("stream error event".to_owned()),
        StreamSeen {
            finished: true,
            done: true,
            ..
        } => Outcome::Answered,
        _ => Outcome::Unclean("stream ended without a finish, [DONE] or an error".to_owned()),
    }
}
