//! Progress bars on stderr for work that takes more than a moment; hidden when stderr is not a
//! terminal, so scripts and `--json` output stay clean.

use indicatif::{ProgressBar, ProgressStyle};

/// A bar counting `total` steps, labelled with what is being done.
pub fn bar(label: &str, total: usize) -> ProgressBar {
    let bar = ProgressBar::new(total as u64);
    if let Ok(style) =
        ProgressStyle::with_template("{msg:>24} [{bar:40}] {pos}/{len} ({elapsed}, eta {eta})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(label.to_owned());
    bar
}
