//! Writing command output to stdout without panicking when the reader goes away.
//!
//! `println!` panics when stdout is a closed pipe (`routewise eval ... | head`). These macros
//! return the write error instead; `main` treats a broken pipe as a normal end of output.

/// Like `println!`, but evaluates to `std::io::Result<()>`.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
    }};
}

/// Like `print!`, but evaluates to `std::io::Result<()>`.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($arg)*)
    }};
}

/// Whether an error means the reader of stdout closed it: not a failure of routewise.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The error and its causes on one line, each cause once: library errors often repeat their
/// source in their own message, and `{:#}` would print it again for every level.
pub fn describe(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let message = cause.to_string();
        if text.contains(&message) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&message);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Like the library errors: the source both in the message and as `source()`.
    #[derive(Debug)]
    struct BadLine {
        source: std::io::Error,
    }

    impl std::fmt::Display for BadLine {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "bad.jsonl:6: {}", self.source)
        }
    }

    impl std::error::Error for BadLine {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.source)
        }
    }

    #[test]
    fn describe_prints_each_cause_once() {
        let inner = std::io::Error::other("key must be a string");
        let error = anyhow::Error::new(BadLine { source: inner }).context("loading the data");
        assert_eq!(
            describe(&error),
            "loading the data: bad.jsonl:6: key must be a string"
        );
    }
}
