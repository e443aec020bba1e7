//! Scripted replies: what the mock answers, how late, and how it fails.

use std::time::Duration;

/// One scripted answer to one call.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub kind: ReplyKind,
    /// Wait this long before sending response headers (first-byte timeouts).
    pub header_delay: Duration,
    /// Wait this long before each SSE chunk after the first (stream pacing and total timeouts).
    pub chunk_delay: Duration,
    /// Interleave a streamed reply with events that carry no chunk: SSE comments,
    /// `event: ping`, `data: {}` (what some upstreams send to keep a stream alive).
    pub keepalives: bool,
}

/// What the reply carries.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplyKind {
    /// A successful completion with this text; streamed word by word when the call asks for a
    /// stream. `usage` overrides the mock's word-count usage.
    Text {
        content: String,
        usage: Option<(u64, u64)>,
    },
    /// An HTTP error with a provider-shaped error body and, optionally, `Retry-After` seconds.
    Status {
        status: u16,
        retry_after_secs: Option<u64>,
    },
    /// Status 200 with a body that is not the API's JSON.
    Garbage(String),
    /// Starts answering (headers, and `after_chunks` SSE chunks when streaming) and then drops the
    /// connection mid-body.
    Drop { after_chunks: usize },
    /// A stream that sends `after_chunks` content chunks and then ends cleanly, without a
    /// `finish_reason`, `[DONE]` or `message_stop`: an answer cut short by the upstream.
    Truncate { after_chunks: usize },
    /// An error whose body quotes every request header, the provider's key among them (as some
    /// upstreams and proxies do): for streams, an in-stream error event after one chunk.
    EchoHeaders { status: u16 },
}

impl Reply {
    fn of(kind: ReplyKind) -> Self {
        Self {
            kind,
            header_delay: Duration::ZERO,
            chunk_delay: Duration::ZERO,
            keepalives: false,
        }
    }

    /// A successful answer with this text.
    pub fn text(content: impl Into<String>) -> Self {
        Self::of(ReplyKind::Text {
            content: content.into(),
            usage: None,
        })
    }

    /// An HTTP error status.
    pub fn status(status: u16) -> Self {
        Self::of(ReplyKind::Status {
            status,
            retry_after_secs: None,
        })
    }

    /// A 200 response whose body is not JSON.
    pub fn garbage(body: impl Into<String>) -> Self {
        Self::of(ReplyKind::Garbage(body.into()))
    }

    /// A response that breaks off after `after_chunks` SSE chunks (0 for non-streamed calls).
    /// Pace it with [`Reply::chunk_every`] when the client must see the chunks before the drop;
    /// unpaced, the drop may overtake them.
    pub fn drop_connection(after_chunks: usize) -> Self {
        Self::of(ReplyKind::Drop { after_chunks })
    }

    /// A stream cut short: `after_chunks` content chunks, then a clean end with no finish.
    pub fn truncated(after_chunks: usize) -> Self {
        Self::of(ReplyKind::Truncate { after_chunks })
    }

    /// An error (`status`) whose body quotes the request's headers.
    pub fn echo_headers(status: u16) -> Self {
        Self::of(ReplyKind::EchoHeaders { status })
    }

    /// Interleaves keep-alive events that carry no chunk into a streamed reply.
    pub fn with_keepalives(mut self) -> Self {
        self.keepalives = true;
        self
    }

    /// Reports these token counts instead of counting words.
    pub fn with_usage(mut self, prompt_tokens: u64, completion_tokens: u64) -> Self {
        if let ReplyKind::Text { usage, .. } = &mut self.kind {
            *usage = Some((prompt_tokens, completion_tokens));
        }
        self
    }

    /// Adds a `Retry-After` header (seconds) to a status reply.
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        if let ReplyKind::Status {
            retry_after_secs, ..
        } = &mut self.kind
        {
            *retry_after_secs = Some(secs);
        }
        self
    }

    /// Delays the response headers.
    pub fn after(mut self, delay: Duration) -> Self {
        self.header_delay = delay;
        self
    }

    /// Paces SSE chunks.
    pub fn chunk_every(mut self, delay: Duration) -> Self {
        self.chunk_delay = delay;
        self
    }
}
