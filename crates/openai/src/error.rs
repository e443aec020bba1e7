//! The OpenAI error envelope, `{"error": {"message", "type", "param", "code"}}`, which every
//! routewise error response uses so that OpenAI SDKs raise their usual exceptions.

use serde::{Deserialize, Serialize};

/// The error response body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiError {
    pub error: ErrorBody,
}

/// What went wrong, for humans (`message`) and for programs (`type`, `code`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub message: String,
    /// OpenAI's error class: `invalid_request_error`, `authentication_error`,
    /// `rate_limit_error`, `api_error`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// The request field at fault, when there is one.
    #[serde(default)]
    pub param: Option<String>,
    /// A stable machine-readable code, e.g. `model_not_found`.
    #[serde(default)]
    pub code: Option<String>,
}

impl ApiError {
    pub fn new(kind: impl Into<String>, code: Option<&str>, message: impl Into<String>) -> Self {
        Self {
            error: ErrorBody {
                message: message.into(),
                kind: kind.into(),
                param: None,
                code: code.map(str::to_owned),
            },
        }
    }

    /// Names the request field at fault.
    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.error.param = Some(param.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn serialises_in_openai_shape() {
        let err = ApiError::new(
            "invalid_request_error",
            Some("model_not_found"),
            "no such model",
        )
        .with_param("model");
        assert_eq!(
            serde_json::to_value(err).unwrap(),
            json!({"error": {"message": "no such model", "type": "invalid_request_error",
                             "param": "model", "code": "model_not_found"}})
        );
    }
}
