//! The user's own query inside a prompt, and cheap numeric features of it.
//!
//! Benchmark prompts (and many production prompts) carry few-shot examples and answer-format
//! boilerplate; features computed on the whole prompt then describe the template rather than the
//! question. [`user_query`] drops solved examples, and [`QueryFeatures`] describes what is left:
//! the features that, in held-out-category experiments, transfer to subjects never seen.

use super::overlap::max_option_overlap;
use super::rarity::WordRarity;
use regex::Regex;
use std::borrow::Cow;
use std::sync::LazyLock;

/// Names of [`QueryFeatures::values`], in order; written into model files.
pub const QUERY_FEATURE_NAMES: [&str; 13] = [
    "log_stem_words",
    "log_stem_numbers",
    "log_math_symbols",
    "negation",
    "log_option_words",
    "numeric_options",
    "paired_options",
    "log_pipes",
    "reasoning_keywords",
    "option_mean_zipf",
    "option_rare_share",
    "option_overlap",
    "judgement_words",
];

struct Patterns {
    /// A few-shot block: a question followed by `Answer:` and its answer.
    solved: Regex,
    option: Regex,
    word: Regex,
    number: Regex,
    negation: Regex,
    numeric_option: Regex,
    reasoning: Regex,
    /// Words asking for a judgement between plausible answers rather than a recalled fact.
    judgement: Regex,
    /// A TF-IDF token: two or more word characters.
    term: Regex,
}

static PATTERNS: LazyLock<Option<Patterns>> = LazyLock::new(|| {
    Some(Patterns {
        solved: Regex::new(r"(?i)answer:\s*\S").ok()?,
        option: Regex::new(r"^\(?[A-Ea-e][.):] ").ok()?,
        word: Regex::new(r"\w+").ok()?,
        number: Regex::new(r"\d+").ok()?,
        negation: Regex::new(r"(?i)\b(not|except|least|false|incorrect)\b").ok()?,
        numeric_option: Regex::new(r"^[\d.\-\s$%,/]+$").ok()?,
        reasoning: Regex::new(r"(?i)\b(why|explain|compare|analy[sz]e)\b").ok()?,
        judgement: Regex::new(r"(?i)\b(best|most|main|primarily|probably)\b").ok()?,
        term: Regex::new(r"\w\w+").ok()?,
    })
});

/// The part of `prompt` the user is actually asking: the paragraphs after the last solved
/// example (a paragraph containing `Answer:` followed by an answer). A prompt with no solved
/// example is returned whole, so a long pasted passage stays part of the query.
pub fn user_query(prompt: &str) -> &str {
    let Some(p) = PATTERNS.as_ref() else {
        return prompt;
    };
    let mut start = 0;
    let mut offset = 0;
    for paragraph in prompt.split("\n\n") {
        let end = offset + paragraph.len();
        if p.solved.is_match(paragraph) && end < prompt.len() {
            start = (end + 2).min(prompt.len());
        }
        offset = end + 2;
    }
    let query = prompt[start..].trim();
    if query.is_empty() { prompt } else { query }
}

/// The text the TF-IDF columns see: the query with the words of its answer options marked
/// `o_word`, so that a word in an option is a different term from the same word in the
/// question. Which *answers* are on offer says more about a question's difficulty than its
/// topic does, and the mark lets the heads weigh the two apart (on MMLU with subjects held out,
/// +0.006 APGR on average and on four fold assignments of five; docs/LEARNED.md). Option
/// labels (`A.`) are dropped; a query without options is returned as it is.
pub fn tfidf_text(query: &str) -> Cow<'_, str> {
    let Some(p) = PATTERNS.as_ref() else {
        return Cow::Borrowed(query);
    };
    if !query.split('\n').any(|line| p.option.is_match(line)) {
        return Cow::Borrowed(query);
    }
    let mut text = String::with_capacity(query.len() + query.len() / 2);
    for (i, line) in query.split('\n').enumerate() {
        if i > 0 {
            text.push('\n');
        }
        match p.option.find(line) {
            Some(label) => {
                for (k, term) in p.term.find_iter(&line[label.end()..]).enumerate() {
                    if k > 0 {
                        text.push(' ');
                    }
                    text.push_str("o_");
                    text.push_str(term.as_str());
                }
            }
            None => text.push_str(line),
        }
    }
    Cow::Owned(text)
}

/// Numeric descriptors of a query (see [`QUERY_FEATURE_NAMES`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueryFeatures {
    pub values: [f64; QUERY_FEATURE_NAMES.len()],
}

impl QueryFeatures {
    /// Features of `query` (already reduced with [`user_query`]). Answer options (`A. ...`,
    /// `B) ...`) are described separately from the question stem.
    pub fn of(query: &str) -> Self {
        let Some(p) = PATTERNS.as_ref() else {
            return Self {
                values: [0.0; QUERY_FEATURE_NAMES.len()],
            };
        };
        let mut stem = String::with_capacity(query.len());
        let mut options: Vec<&str> = Vec::new();
        for line in query.lines() {
            match p.option.find(line) {
                Some(m) => options.push(line[m.end()..].trim()),
                None => {
                    stem.push_str(line);
                    stem.push(' ');
                }
            }
        }
        let share = |f: &dyn Fn(&str) -> bool| {
            if options.is_empty() {
                0.0
            } else {
                options.iter().filter(|o| f(o)).count() as f64 / options.len() as f64
            }
        };
        let option_words = if options.is_empty() {
            0.0
        } else {
            options
                .iter()
                .map(|o| o.split_whitespace().count())
                .sum::<usize>() as f64
                / options.len() as f64
        };
        let ln1p = |x: usize| (x as f64).ln_1p();
        // For ASCII text `\w+` and `\d+` are runs of word bytes and digits: a byte scan counts
        // them several times faster than the regex engine; other text takes the regexes.
        let (words, numbers) = if stem.is_ascii() {
            (
                count_runs(&stem, |b| b.is_ascii_alphanumeric() || b == b'_'),
                count_runs(&stem, |b| b.is_ascii_digit()),
            )
        } else {
            (
                p.word.find_iter(&stem).count(),
                p.number.find_iter(&stem).count(),
            )
        };
        // The maths symbols are ASCII bytes, which never occur inside a multi-byte character.
        let math = query.bytes().filter(|b| b"=+*/^<>".contains(b)).count();
        let option_rarity = WordRarity::of(options.iter().copied());
        Self {
            values: [
                ln1p(words),
                ln1p(numbers),
                ln1p(math),
                f64::from(u8::from(p.negation.is_match(&stem))),
                option_words.ln_1p(),
                share(&|o| p.numeric_option.is_match(o)),
                // Options that combine judgements ("True, False"; "Wrong, Not wrong").
                share(&|o| o.contains(',') && o.split_whitespace().count() <= 4),
                ln1p(stem.matches('|').count()),
                f64::from(u8::from(p.reasoning.is_match(&stem))),
                option_rarity.mean_zipf,
                option_rarity.rare_share,
                max_option_overlap(&options),
                f64::from(u8::from(p.judgement.is_match(&stem))),
            ],
        }
    }
}

/// Number of maximal runs of bytes satisfying `is_member`.
fn count_runs(text: &str, is_member: impl Fn(u8) -> bool) -> usize {
    let mut runs = 0;
    let mut inside = false;
    for b in text.bytes() {
        let member = is_member(b);
        if member && !inside {
            runs += 1;
        }
        inside = member;
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_shot_examples_are_stripped_and_plain_prompts_kept_whole() {
        let few_shot = "Q: 1+1?\nA) 2\nB) 3\nAnswer:\nA\n\nQ: 2+2?\nA) 4\nB) 5\nAnswer: A\n\n\
                        Please answer.\n\nQ: capital of France?\nA) Paris\nB) Rome\nAnswer:";
        assert_eq!(
            user_query(few_shot),
            "Please answer.\n\nQ: capital of France?\nA) Paris\nB) Rome\nAnswer:"
        );
        let passage = "Read this.\n\nA long passage.\n\nWhat does it say?\nAnswer:";
        assert_eq!(user_query(passage), passage);
        assert_eq!(user_query("Answer: yes"), "Answer: yes");
    }

    proptest::proptest! {
        #[test]
        fn byte_scans_count_what_the_regexes_count(text in "[ -~\n]{0,60}") {
            let p = PATTERNS.as_ref().unwrap();
            proptest::prop_assert_eq!(
                count_runs(&text, |b| b.is_ascii_alphanumeric() || b == b'_'),
                p.word.find_iter(&text).count()
            );
            proptest::prop_assert_eq!(
                count_runs(&text, |b| b.is_ascii_digit()),
                p.number.find_iter(&text).count()
            );
            proptest::prop_assert_eq!(
                text.bytes().filter(|b| b"=+*/^<>".contains(b)).count(),
                Regex::new(r"[=+*/^<>]").unwrap().find_iter(&text).count()
            );
        }
    }

    #[test]
    fn option_words_are_marked_for_tfidf() {
        let q = "Which enzyme unwinds DNA?\nA. helicase\nB) DNA ligase, I think\nAnswer:";
        assert_eq!(
            tfidf_text(q),
            "Which enzyme unwinds DNA?\no_helicase\no_DNA o_ligase o_think\nAnswer:"
        );
        let open = "Explain why the sky is blue";
        assert!(matches!(tfidf_text(open), Cow::Borrowed(text) if text == open));
    }

    #[test]
    fn features_describe_stem_and_options_separately() {
        let q = "Statement 1 | x = 2. Statement 2 | y is not 3.\nA. True, True\nB. False, False\n\
                 C. True, False\nD. False, True\nAnswer:";
        let f = QueryFeatures::of(q).values;
        assert_eq!(f[3], 1.0, "negation in the stem");
        assert_eq!(f[6], 1.0, "every option pairs two judgements");
        assert_eq!(f[5], 0.0, "no numeric options");
        assert!((f[7] - 2f64.ln_1p()).abs() < 1e-12, "two pipes");
        assert_eq!(
            f[11], 1.0,
            "\"True, False\" and \"False, True\" share every word"
        );
        assert_eq!(f[12], 0.0, "no judgement asked");
        let numeric = QueryFeatures::of("Compute 3*4.\nA. 12\nB. 7\nAnswer:").values;
        assert_eq!(numeric[5], 1.0);
        assert!(numeric[2] > 0.0);
        let open = QueryFeatures::of("Explain why the sky is blue").values;
        assert_eq!(open[8], 1.0);
        assert_eq!(open[4], 0.0, "no options");
        assert_eq!(open[11], 0.0, "no options, no overlap");
        let judgement =
            QueryFeatures::of("Which is the BEST explanation?\nA. rain\nB. wind").values;
        assert_eq!(judgement[12], 1.0);
        assert_eq!(
            QueryFeatures::of("Which is the bestseller?").values[12],
            0.0,
            "whole words only"
        );
        assert_eq!(
            (open[9], open[10]),
            (0.0, 0.0),
            "no options, no option rarity"
        );
        let specialist =
            QueryFeatures::of("Which enzyme?\nA. helicase\nB. topoisomerase\nC. the one").values;
        assert!(
            specialist[10] > 0.0,
            "specialist options are rare: {specialist:?}"
        );
    }
}
