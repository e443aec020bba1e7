//! An exact, allocation-free re-implementation of the o200k_base pre-tokenisation regex for
//! ASCII text.
//!
//! Why hand-written: the regex engine dominates the cost of counting tokens (the routing decision
//! itself takes a few microseconds; a 300-token prompt took ~10 us to split by regex alone). The
//! pattern, from OpenAI's tiktoken, tried in order at each position (leftmost-first):
//!
//! 1. `[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?`
//! 2. `[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?`
//! 3. `\p{N}{1,3}`
//! 4. ` ?[^\s\p{L}\p{N}]+[\r\n/]*`
//! 5. `\s*[\r\n]+`
//! 6. `\s+(?!\S)` (whitespace up to, not including, the last one before a non-space; or to the end)
//! 7. `\s+`
//!
//! Restricted to ASCII, the Unicode classes reduce to `A-Z` (upper), `a-z` (lower), `0-9`
//! (numbers) and `\t \n \x0B \x0C \r space` (white space). Callers must only pass ASCII; the
//! property tests check every split against the regex implementation.

fn is_upper(b: u8) -> bool {
    b.is_ascii_uppercase()
}

fn is_lower(b: u8) -> bool {
    b.is_ascii_lowercase()
}

fn is_letter(b: u8) -> bool {
    b.is_ascii_alphabetic()
}

/// `\s` for ASCII, as Unicode's White_Space property defines it (note: not 0x1C..=0x1F).
fn is_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0B | 0x0C | b'\r' | b' ')
}

fn is_newline(b: u8) -> bool {
    matches!(b, b'\r' | b'\n')
}

/// `[^\r\n\p{L}\p{N}]`: the optional one-character prefix of a word.
fn is_word_prefix(b: u8) -> bool {
    !is_newline(b) && !b.is_ascii_alphanumeric()
}

/// `[^\s\p{L}\p{N}]`: punctuation and symbols.
fn is_symbol(b: u8) -> bool {
    !is_space(b) && !b.is_ascii_alphanumeric()
}

fn run_end(bytes: &[u8], from: usize, class: impl Fn(u8) -> bool) -> usize {
    bytes[from..]
        .iter()
        .position(|&b| !class(b))
        .map_or(bytes.len(), |n| from + n)
}

/// Each byte's top bit, in a word of eight bytes.
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// The top bit of each byte of `word` that is a lowercase ASCII letter. Exact for ASCII bytes
/// (every byte below 0x80), for which no per-byte sum below carries into the next byte.
fn lowercase_bytes(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let from_a = word.wrapping_add(ONES * (0x80 - u64::from(b'a')));
    let past_z = word.wrapping_add(ONES * (0x80 - u64::from(b'z') - 1));
    from_a & !past_z & HIGH_BITS
}

/// End of the run of lowercase letters from `from`, eight bytes at a time: a word's end is found
/// without a branch per letter, whose exit (where the word ends) a branch predictor cannot know.
fn lowercase_run_end(bytes: &[u8], from: usize) -> usize {
    let mut at = from;
    while let Some(chunk) = bytes
        .get(at..at + 8)
        .and_then(|c| <[u8; 8]>::try_from(c).ok())
    {
        let others = !lowercase_bytes(u64::from_le_bytes(chunk)) & HIGH_BITS;
        if others != 0 {
            return at + (others.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    run_end(bytes, at, is_lower)
}

/// Length of an English contraction suffix (`'s`, `'t`, `'re`, `'ve`, `'m`, `'ll`, `'d`, any
/// case) starting at `at`, or 0.
fn contraction_len(bytes: &[u8], at: usize) -> usize {
    if bytes.get(at) != Some(&b'\'') {
        return 0;
    }
    let lower = |i: usize| bytes.get(at + i).map(u8::to_ascii_lowercase);
    match (lower(1), lower(2)) {
        (Some(b's' | b't' | b'm' | b'd'), _) => 2,
        (Some(b'r'), Some(b'e')) | (Some(b'v'), Some(b'e')) | (Some(b'l'), Some(b'l')) => 3,
        _ => 0,
    }
}

/// End of the piece that starts at `start` (which must be < `bytes.len()`).
fn piece_end(bytes: &[u8], start: usize) -> usize {
    // Alternatives 1 and 2: an optional prefix, then letters.
    let letters_from = if is_word_prefix(bytes[start]) {
        start + 1
    } else {
        start
    };
    if letters_from < bytes.len() && is_letter(bytes[letters_from]) {
        let upper_end = run_end(bytes, letters_from, is_upper);
        let lower_end = lowercase_run_end(bytes, upper_end);
        // 1 needs a lowercase letter after the capitals; 2 needs at least one capital.
        if lower_end > upper_end || upper_end > letters_from {
            return lower_end + contraction_len(bytes, lower_end);
        }
    }
    let first = bytes[start];
    // Alternative 3: up to three digits.
    if first.is_ascii_digit() {
        return run_end(bytes, start, |b| b.is_ascii_digit()).min(start + 3);
    }
    // Alternative 4: an optional space, symbols, then newlines and slashes.
    let symbols_from = if first == b' ' { start + 1 } else { start };
    if symbols_from < bytes.len() && is_symbol(bytes[symbols_from]) {
        let symbols_end = run_end(bytes, symbols_from, is_symbol);
        return run_end(bytes, symbols_end, |b| is_newline(b) || b == b'/');
    }
    // Only white space is left.
    let space_end = run_end(bytes, start, is_space);
    // Alternative 5: white space up to and including its last newline.
    if let Some(last_newline) = bytes[start..space_end].iter().rposition(|&b| is_newline(b)) {
        return start + last_newline + 1;
    }
    // Alternative 6: the run reaches the end, or all but its last character (which then
    // prefixes the next word).
    if space_end == bytes.len() || space_end - start == 1 {
        space_end
    } else {
        space_end - 1
    }
}

/// Splits ASCII text into o200k_base pre-tokens.
pub(crate) fn split_ascii(text: &str) -> impl Iterator<Item = &str> {
    let bytes = text.as_bytes();
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= bytes.len() {
            return None;
        }
        let end = piece_end(bytes, start);
        // Every branch of `piece_end` consumes at least one byte, and ASCII makes every byte
        // offset a char boundary; `get` keeps this panic-free regardless.
        let piece = text.get(start..end);
        start = end.max(start + 1);
        piece
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reference(text: &str) -> Vec<&str> {
        bpe_openai::o200k_base().split(text).collect()
    }

    #[test]
    fn splits_like_the_regex_on_tricky_cases() {
        for text in [
            "Hello world",
            "  hello   world  ",
            "HELLO world HELLOworld ABc",
            "don't I'LL we're they've she'd I'm it's 'tis",
            "x = 12345 + 6;\n\n  return x; // done\r\n",
            "path/to/file.rs:12:5\n/// doc\n",
            "(hello) [World] {FOO}bar... !!!\n\n\n",
            "\t\ttabs\x0B\x0Cand\x1Cseps\x1F",
            "a",
            " ",
            "\n",
            "end with spaces   ",
            "'s's's",
        ] {
            let ours: Vec<&str> = split_ascii(text).collect();
            assert_eq!(ours, reference(text), "text: {text:?}");
        }
    }

    #[test]
    fn lowercase_bytes_is_exact_for_every_ascii_byte_in_every_lane() {
        for b in 0u8..0x80 {
            for lane in 0..8 {
                // The other lanes hold the byte's neighbours, where a carry would show.
                let mut chunk = [b.wrapping_add(1) & 0x7f; 8];
                chunk[lane] = b;
                let mask = lowercase_bytes(u64::from_le_bytes(chunk));
                for (i, &byte) in chunk.iter().enumerate() {
                    let flagged = mask >> (8 * i + 7) & 1 == 1;
                    assert_eq!(flagged, is_lower(byte), "byte {byte:#x} in lane {i}");
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn word_at_a_time_runs_end_where_byte_at_a_time_runs_do(
            text in "[ -~\t\n\r\x00-\x1F\x7F]{0,40}",
            from in 0usize..40,
        ) {
            let bytes = text.as_bytes();
            let from = from.min(bytes.len());
            prop_assert_eq!(lowercase_run_end(bytes, from), run_end(bytes, from, is_lower));
        }

        #[test]
        fn matches_the_regex_on_any_ascii(text in "[ -~\t\n\r\x0B\x0C\x00-\x1F]{0,64}") {
            let ours: Vec<&str> = split_ascii(&text).collect();
            prop_assert_eq!(ours, reference(&text));
        }

        #[test]
        fn matches_the_regex_on_word_like_ascii(
            words in proptest::collection::vec("(?:[A-Z]{0,3}[a-z]{0,6}|[0-9]{1,5}|'[sStTmMdD]|'(?:re|ve|ll|RE|Ll)|[ \t]{1,3}|[\r\n]{1,2}|[.,;:!?/()\"'-]{1,3})", 0..24)
        ) {
            let text = words.concat();
            let ours: Vec<&str> = split_ascii(&text).collect();
            prop_assert_eq!(ours, reference(&text));
        }
    }
}
