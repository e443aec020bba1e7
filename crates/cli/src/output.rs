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
