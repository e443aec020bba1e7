//! What the server process holds, read from `/proc`: resident memory and open file descriptors.

use std::fs;

/// One look at a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    pub rss_kib: u64,
    pub fds: usize,
}

/// Reads `/proc/PID`; `None` once the process is gone (or on a system without `/proc`).
pub fn held(pid: u32) -> Option<Held> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    let fds = fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count();
    Some(Held { rss_kib, fds })
}
