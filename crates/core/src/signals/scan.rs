//! One pass over the user's text with the phrase matcher, accumulating evidence per signal.

use super::lexicon::{Evidence, LEXICON};
use super::phrases::PhraseMatcher;
use super::{Domain, TaskType};
use thiserror::Error;

/// A task needs at least this much evidence to beat `open_ended`.
const TASK_THRESHOLD: u32 = 2;
/// A domain needs at least this much evidence: one strong word, or two weak ones.
const DOMAIN_THRESHOLD: u32 = 2;
/// Code is present with a fenced block, or two code fragments.
pub(crate) const CODE_THRESHOLD: u32 = 2;
/// Evidence for maths from arithmetic such as `12 * 7` or `x^2 = 9`.
const ARITHMETIC_WEIGHT: u32 = 2;

/// Why signal extraction could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ScanError {
    #[error("the built-in signal lexicon failed to compile: {0}")]
    Lexicon(String),
}

/// Evidence per task type, indexed like [`TaskType::ALL`].
#[derive(Debug, Default, Clone)]
pub(crate) struct TaskScores([u32; TaskType::ALL.len()]);

impl TaskScores {
    fn add(&mut self, task: TaskType, weight: u32) {
        if let Some(slot) = TaskType::ALL.iter().position(|t| *t == task) {
            self.0[slot] = self.0[slot].saturating_add(weight);
        }
    }

    /// The task with most evidence. Ties go to the task listed first in `PRIORITY`: the more
    /// specific and the more demanding task wins, so a tie never routes down by accident.
    pub(crate) fn winner(&self) -> TaskType {
        const PRIORITY: [TaskType; 9] = [
            TaskType::CodeGeneration,
            TaskType::Math,
            TaskType::Design,
            TaskType::Translation,
            TaskType::Summarization,
            TaskType::Extraction,
            TaskType::Sentiment,
            TaskType::Classification,
            TaskType::CreativeWriting,
        ];
        let score = |task: TaskType| {
            TaskType::ALL
                .iter()
                .position(|t| *t == task)
                .map_or(0, |slot| self.0[slot])
        };
        let mut best = TaskType::OpenEnded;
        let mut best_score = TASK_THRESHOLD.saturating_sub(1);
        for task in PRIORITY {
            let s = score(task);
            if s > best_score {
                best = task;
                best_score = s;
            }
        }
        best
    }
}

/// Evidence per domain, indexed like [`Domain::ALL`].
#[derive(Debug, Default, Clone)]
pub(crate) struct DomainScores([u32; Domain::ALL.len()]);

impl DomainScores {
    fn add(&mut self, domain: Domain, weight: u32) {
        if let Some(slot) = Domain::ALL.iter().position(|d| *d == domain) {
            self.0[slot] = self.0[slot].saturating_add(weight);
        }
    }

    fn absorb(&mut self, other: &Self) {
        for (score, more) in self.0.iter_mut().zip(other.0) {
            *score = score.saturating_add(more);
        }
    }

    pub(crate) fn present(&self) -> Vec<Domain> {
        Domain::ALL
            .into_iter()
            .zip(self.0)
            .filter(|(_, score)| *score >= DOMAIN_THRESHOLD)
            .map(|(domain, _)| domain)
            .collect()
    }
}

/// Evidence gathered over the user's messages.
#[derive(Debug, Default, Clone)]
pub(crate) struct Scan {
    pub(crate) reasoning_keywords: Vec<&'static str>,
    pub(crate) task_scores: TaskScores,
    pub(crate) domain_scores: DomainScores,
    pub(crate) code_score: u32,
    /// Whether the last user message reads as a short question after a fact.
    pub(crate) factual_question: bool,
}

impl Scan {
    /// Adds the evidence of an earlier user message scanned on its own: the same as scanning it
    /// into this scan in its place, since only reasoning, domain and code evidence count for an
    /// earlier message, and its keywords keep their order of first appearance.
    pub(crate) fn absorb_earlier(&mut self, earlier: &Scan) {
        for name in &earlier.reasoning_keywords {
            if !self.reasoning_keywords.contains(name) {
                self.reasoning_keywords.push(name);
            }
        }
        self.domain_scores.absorb(&earlier.domain_scores);
        self.code_score = self.code_score.saturating_add(earlier.code_score);
    }

    /// The task of the last user message: the lexicon's winner; when no task has enough
    /// evidence and nothing asks for reasoning, a short wh-question is a factual question.
    pub(crate) fn task(&self) -> TaskType {
        match self.task_scores.winner() {
            TaskType::OpenEnded if self.factual_question && self.reasoning_keywords.is_empty() => {
                TaskType::FactualQuestion
            }
            task => task,
        }
    }
}

/// Words a question after a fact starts with ("what's" starts with "what").
const FACT_QUESTION_STARTS: [&str; 10] = [
    "who", "whom", "whose", "what", "whats", "when", "where", "which", "how many", "how much",
];
/// Characters of a message enough to hold the longest start and the character after it.
const FACT_QUESTION_PREFIX_CHARS: usize = 9;
/// A factual question is short: past this many words it usually carries context to reason over.
const FACT_QUESTION_MAX_WORDS: usize = 20;

/// Whether `text` is one short question starting with a wh-word ("Who wrote Hamlet?"): one
/// line, one sentence, at most [`FACT_QUESTION_MAX_WORDS`] words.
fn is_factual_question(text: &str) -> bool {
    let trimmed = text.trim();
    // Stops at the first word past the limit: a long prompt costs no more than a short one.
    let words = trimmed
        .split_whitespace()
        .take(FACT_QUESTION_MAX_WORDS + 1)
        .count();
    if words == 0 || words > FACT_QUESTION_MAX_WORDS || trimmed.contains('\n') {
        return false;
    }
    // Checked only now, on a text of at most 20 words: one sentence, one question.
    let body = trimmed.trim_end_matches(['?', '.', '!']);
    if body.contains([';', '?', '!']) || body.contains(". ") {
        return false;
    }
    let lower: String = trimmed
        .chars()
        .take(FACT_QUESTION_PREFIX_CHARS)
        .flat_map(char::to_lowercase)
        .collect();
    FACT_QUESTION_STARTS.iter().any(|start| {
        lower.strip_prefix(start).is_some_and(|rest| {
            rest.chars()
                .next()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
        })
    })
}

/// Scans one user message. Task evidence counts only for the last user message (the task at
/// hand); reasoning, domain and code evidence accumulate over the whole conversation.
pub(crate) fn scan_text(phrases: &PhraseMatcher, text: &str, is_last: bool, scan: &mut Scan) {
    let bytes = text.as_bytes();
    for found in phrases.find_iter(bytes) {
        let Some(&(_, evidence, bounded)) = LEXICON.get(found.pattern) else {
            continue;
        };
        if bounded && !on_word_boundaries(bytes, found.start, found.end) {
            continue;
        }
        match evidence {
            Evidence::Reasoning(name) => {
                if !scan.reasoning_keywords.contains(&name) {
                    scan.reasoning_keywords.push(name);
                }
            }
            Evidence::Task(task, weight) if is_last => {
                scan.task_scores.add(task, u32::from(weight));
            }
            Evidence::Task(..) => {}
            Evidence::Domain(domain, weight) => scan.domain_scores.add(domain, u32::from(weight)),
            Evidence::CodeMarker => {
                // A fenced block is code on its own; other fragments need company.
                let weight = if bytes.get(found.start..found.end) == Some(b"```".as_slice()) {
                    CODE_THRESHOLD
                } else {
                    1
                };
                scan.code_score = scan.code_score.saturating_add(weight);
            }
        }
    }
    if is_last && has_arithmetic(bytes) {
        scan.task_scores.add(TaskType::Math, ARITHMETIC_WEIGHT);
    }
    if is_last {
        scan.factual_question = is_factual_question(text);
    }
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Whether a match stands as a whole word. Lexicon phrases are ASCII, so checking the ASCII bytes
/// either side is exact; a neighbouring non-ASCII letter counts as a boundary.
fn on_word_boundaries(bytes: &[u8], start: usize, end: usize) -> bool {
    let before_ok = start == 0 || bytes.get(start - 1).is_none_or(|b| !is_word_byte(*b));
    let after_ok = bytes.get(end).is_none_or(|b| !is_word_byte(*b));
    before_ok && after_ok
}

/// Finds `<digits> <operator> <digits>` such as `17 * 23`, `2^10` or `x = 4 + 5`.
fn has_arithmetic(bytes: &[u8]) -> bool {
    let mut from = 0;
    while let Some(digits_start) = next_digit(bytes, from) {
        match arithmetic_at(bytes, digits_start) {
            Ok(()) => return true,
            Err(next) => from = next,
        }
    }
    false
}

/// Whether the number at `i` is followed by an operator and another number; if not, where to
/// look next.
fn arithmetic_at(bytes: &[u8], i: usize) -> Result<(), usize> {
    let mut j = i;
    while j < bytes.len() && (bytes[j].is_ascii_digit() || bytes[j] == b'.') {
        j += 1;
    }
    let digits_end = j;
    while j < bytes.len() && bytes[j] == b' ' {
        j += 1;
    }
    let spaced_before = j > digits_end;
    if let Some(&operator) = bytes.get(j) {
        // `-` and `/` join dates, ranges and fractions ("2024-05-01", "3/4 cup"):
        // they count as arithmetic only when set apart by spaces.
        let always = matches!(operator, b'+' | b'*' | b'^' | b'=');
        let spaced_only = matches!(operator, b'-' | b'/');
        if always || spaced_only {
            let mut k = j + 1;
            while k < bytes.len() && bytes[k] == b' ' {
                k += 1;
            }
            let spaced_after = k > j + 1;
            let operand_follows = bytes.get(k).is_some_and(u8::is_ascii_digit);
            if operand_follows && (always || (spaced_before && spaced_after)) {
                return Ok(());
            }
        }
    }
    Err(j.max(i + 1))
}

/// The first digit at or after `from`. Most prompts have few digits, so runs of 32 bytes
/// without one are passed over whole (the check of a run compiles to a few vector
/// instructions; a byte at a time, this search was a quarter of the phrase scan's cost).
fn next_digit(bytes: &[u8], from: usize) -> Option<usize> {
    const RUN: usize = 32;
    let mut start = from;
    for run in bytes.get(from..)?.chunks(RUN) {
        if run.iter().fold(false, |any, b| any | b.is_ascii_digit()) {
            return run.iter().position(u8::is_ascii_digit).map(|n| start + n);
        }
        start += run.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_is_found_in_expressions_not_in_dates_or_lists() {
        assert!(has_arithmetic(b"what is 17 * 23?"));
        assert!(has_arithmetic(b"2^10"));
        assert!(has_arithmetic(b"x = 4+5"));
        assert!(!has_arithmetic(b"born in 1990, lived 3 years"));
        assert!(!has_arithmetic(b"item 3. item 4."));
        assert!(!has_arithmetic(b"due 2024-05-01, use 3/4 cup"));
        assert!(has_arithmetic(b"what is 12 - 4 and 10 / 2"));
        assert!(!has_arithmetic(b""));
    }

    proptest::proptest! {
        /// The run-skipping search finds exactly the first digit a byte-at-a-time one does, on
        /// texts long enough to span several runs, digits anywhere or nowhere.
        #[test]
        fn next_digit_finds_the_first_digit(text in "[a-z 0-9+*=./-]{0,100}|[a-z ]{0,90}[0-9]?[a-z ]{0,20}", from in 0usize..120) {
            let bytes = text.as_bytes();
            let expected = bytes.get(from..).and_then(|rest| rest.iter().position(u8::is_ascii_digit)).map(|n| from + n);
            proptest::prop_assert_eq!(next_digit(bytes, from), expected);
        }
    }

    #[test]
    fn word_boundaries_reject_partial_words() {
        assert!(on_word_boundaries(b"why not", 0, 3));
        assert!(!on_word_boundaries(b"whyever", 0, 3));
        assert!(!on_word_boundaries(b"anywhy", 3, 6));
        assert!(on_word_boundaries("é why".as_bytes(), 3, 6));
    }
}
