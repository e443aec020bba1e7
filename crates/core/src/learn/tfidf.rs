//! A TF-IDF vectoriser over word 1-2 grams with scikit-learn's semantics, so that figures can be
//! cross-checked against a Python prototype: lowercase, token regex `(?u)\b\w\w+\b`, n-grams
//! joined by one space, vocabulary in sorted order, smooth idf `ln((1+n)/(1+df)) + 1`, optional
//! sublinear tf `1 + ln(tf)`, rows scaled to unit l2 norm.

use super::LearnError;
use regex::Regex;
use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::LazyLock;

// The pattern is a literal checked by the tests; should it ever fail to compile, the fallback
// matches nothing and every document gets an empty row rather than a panic.
static TOKEN: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"(?u)\b\w\w+\b").ok());

/// How documents become features. Stored in the model file so a loaded model tokenises
/// exactly as it did in training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TfidfConfig {
    /// Longest n-gram (1 = words only, 2 = words and word pairs).
    pub ngram_max: usize,
    /// Terms seen in fewer training documents are dropped (keeps the vocabulary and the model
    /// file small, and rare terms carry no signal that transfers).
    pub min_df: usize,
    /// Use `1 + ln(tf)` instead of the raw count.
    pub sublinear_tf: bool,
}

impl Default for TfidfConfig {
    fn default() -> Self {
        Self {
            ngram_max: 2,
            min_df: 2,
            sublinear_tf: true,
        }
    }
}

/// The longest n-gram a model file may ask for (training uses 2; 1-3 grams were tried).
pub const MAX_NGRAM: usize = 8;

/// A fitted vectoriser. Serialises as its config, its terms in column order and their idf.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "TfidfFile", into = "TfidfFile")]
pub struct TfidfVectorizer {
    config: TfidfConfig,
    terms: Vec<String>,
    idf: Vec<f64>,
    /// Term -> column. FxHash: the vocabulary is fixed at training time and lookups are most of
    /// a decision's cost, so a fast non-DoS-resistant hash is the right trade.
    index: FxHashMap<String, u32>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TfidfFile {
    config: TfidfConfig,
    terms: Vec<String>,
    idf: Vec<f64>,
}

impl TryFrom<TfidfFile> for TfidfVectorizer {
    // A bare message: serde puts it into its own error, which `LearnedModel::from_json` wraps
    // in `LearnError::Corrupt`; a `LearnError` here would say "not a valid model" twice.
    type Error = String;

    fn try_from(file: TfidfFile) -> Result<Self, String> {
        // Every decision loops over n-gram lengths up to this, so a corrupt value would hang
        // each request rather than fail once at load time.
        if file.config.ngram_max > MAX_NGRAM {
            return Err(format!(
                "the vectoriser's ngram_max is {}, more than the {MAX_NGRAM} routewise reads",
                file.config.ngram_max
            ));
        }
        if file.terms.len() != file.idf.len() {
            return Err(format!(
                "the vectoriser has {} terms but {} idf values",
                file.terms.len(),
                file.idf.len()
            ));
        }
        let index = index_terms(&file.terms).map_err(|e| match e {
            LearnError::Corrupt(why) => why,
            other => other.to_string(),
        })?;
        Ok(Self {
            config: file.config,
            terms: file.terms,
            idf: file.idf,
            index,
        })
    }
}

impl From<TfidfVectorizer> for TfidfFile {
    fn from(v: TfidfVectorizer) -> Self {
        Self {
            config: v.config,
            terms: v.terms,
            idf: v.idf,
        }
    }
}

fn index_terms(terms: &[String]) -> Result<FxHashMap<String, u32>, LearnError> {
    let mut index = FxHashMap::with_capacity_and_hasher(terms.len(), Default::default());
    for (i, term) in terms.iter().enumerate() {
        let column = u32::try_from(i)
            .map_err(|_| LearnError::Corrupt("the vocabulary exceeds 2^32 terms".into()))?;
        index.insert(term.clone(), column);
    }
    Ok(index)
}

/// The words of `doc` as scikit-learn's default analyser sees them: lowercased, token regex
/// `(?u)\b\w\w+\b`. ASCII text (nearly all of it) takes a hand-written scan that yields the same
/// tokens without the regex engine, whose Unicode word boundaries are slow.
fn words(doc: &str, lower: &mut String, out: &mut Vec<(usize, usize)>) {
    out.clear();
    lower.clear();
    if doc.is_ascii() {
        lower.push_str(doc);
        lower.make_ascii_lowercase();
        // For ASCII, `\w` is `[0-9A-Za-z_]` and `\b\w\w+\b` matches maximal runs of two or more.
        let bytes = lower.as_bytes();
        let mut start = None;
        for (i, &b) in bytes.iter().enumerate() {
            let word = b.is_ascii_alphanumeric() || b == b'_';
            match (word, start) {
                (true, None) => start = Some(i),
                (false, Some(s)) => {
                    if i - s >= 2 {
                        out.push((s, i));
                    }
                    start = None;
                }
                _ => {}
            }
        }
        if let Some(s) = start
            && bytes.len() - s >= 2
        {
            out.push((s, bytes.len()));
        }
        return;
    }
    lower.push_str(&doc.to_lowercase());
    if let Some(token) = TOKEN.as_ref() {
        out.extend(token.find_iter(lower).map(|m| (m.start(), m.end())));
    }
}

/// Calls `emit` with every n-gram of `doc` (n = 1..=ngram_max), in document order per n.
/// Unigrams are slices of the lowercased document; longer n-grams are joined by one space in a
/// reused buffer, so no n-gram allocates.
fn for_each_ngram(doc: &str, ngram_max: usize, mut emit: impl FnMut(&str)) {
    let mut lower = String::new();
    let mut spans = Vec::new();
    words(doc, &mut lower, &mut spans);
    let mut gram = String::new();
    for n in 1..=ngram_max.max(1) {
        for window in spans.windows(n) {
            if let [(start, end)] = window {
                emit(&lower[*start..*end]);
                continue;
            }
            gram.clear();
            for (i, &(start, end)) in window.iter().enumerate() {
                if i > 0 {
                    gram.push(' ');
                }
                gram.push_str(&lower[start..end]);
            }
            emit(&gram);
        }
    }
}

impl TfidfVectorizer {
    /// Learns the vocabulary and idf from `docs`.
    pub fn fit<S: AsRef<str>>(docs: &[S], config: TfidfConfig) -> Result<Self, LearnError> {
        let mut df: BTreeMap<String, usize> = BTreeMap::new();
        let mut seen: FxHashSet<String> = FxHashSet::default();
        for doc in docs {
            seen.clear();
            for_each_ngram(doc.as_ref(), config.ngram_max, |g| {
                if !seen.contains(g) {
                    seen.insert(g.to_owned());
                }
            });
            for g in &seen {
                *df.entry(g.clone()).or_insert(0) += 1;
            }
        }
        let n = docs.len() as f64;
        let (terms, idf): (Vec<String>, Vec<f64>) = df
            .into_iter()
            .filter(|(_, d)| *d >= config.min_df.max(1))
            .map(|(t, d)| {
                let idf = ((1.0 + n) / (1.0 + d as f64)).ln() + 1.0;
                (t, idf)
            })
            .unzip();
        if terms.is_empty() {
            return Err(LearnError::EmptyVocabulary {
                documents: docs.len(),
                min_df: config.min_df,
            });
        }
        let index = index_terms(&terms)?;
        Ok(Self {
            config,
            terms,
            idf,
            index,
        })
    }

    pub fn config(&self) -> &TfidfConfig {
        &self.config
    }

    /// Number of columns a transformed row can use.
    pub fn n_features(&self) -> usize {
        self.terms.len()
    }

    /// The term in column `column`, for explanations and inspection.
    pub fn term(&self, column: usize) -> Option<&str> {
        self.terms.get(column).map(String::as_str)
    }

    /// One document's row: (column, weight) sorted by column, unit l2 norm (empty if no term of
    /// the document is in the vocabulary).
    pub fn transform(&self, doc: &str) -> Vec<(u32, f64)> {
        // Columns of every known n-gram, then sorted: equal columns become adjacent and their
        // run length is the term frequency (cheaper than a map from column to count).
        let mut columns: Vec<u32> = Vec::new();
        for_each_ngram(doc, self.config.ngram_max, |g| {
            if let Some(&c) = self.index.get(g) {
                columns.push(c);
            }
        });
        columns.sort_unstable();
        let mut row: Vec<(u32, f64)> = Vec::with_capacity(columns.len());
        for run in columns.chunk_by(|a, b| a == b) {
            let c = run[0];
            let tf = run.len() as f64;
            let tf = if self.config.sublinear_tf {
                1.0 + tf.ln()
            } else {
                tf
            };
            row.push((c, tf * self.idf.get(c as usize).copied().unwrap_or(0.0)));
        }
        let norm = row.iter().map(|(_, v)| v * v).sum::<f64>().sqrt();
        if norm > 0.0 {
            for (_, v) in &mut row {
                *v /= norm;
            }
        }
        row
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCS: [&str; 3] = [
        "The cat sat on the mat.",
        "The dog ate my homework!",
        "Cats and dogs: the cat, the dog.",
    ];

    fn sklearn_config() -> TfidfConfig {
        TfidfConfig {
            ngram_max: 2,
            min_df: 1,
            sublinear_tf: false,
        }
    }

    #[test]
    fn matches_scikit_learn_on_a_fixed_example() {
        // Expected values from scikit-learn 1.9.1:
        // TfidfVectorizer(ngram_range=(1, 2)).fit_transform(DOCS)
        let v = TfidfVectorizer::fit(&DOCS, sklearn_config()).unwrap();
        let expected_terms = [
            "and",
            "and dogs",
            "ate",
            "ate my",
            "cat",
            "cat sat",
            "cat the",
            "cats",
            "cats and",
            "dog",
            "dog ate",
            "dogs",
            "dogs the",
            "homework",
            "mat",
            "my",
            "my homework",
            "on",
            "on the",
            "sat",
            "sat on",
            "the",
            "the cat",
            "the dog",
            "the mat",
        ];
        let terms: Vec<&str> = (0..v.n_features()).filter_map(|i| v.term(i)).collect();
        assert_eq!(terms, expected_terms);
        let expected: [&[(u32, f64)]; 3] = [
            &[
                (4, 0.2460731989),
                (5, 0.3235566851),
                (14, 0.3235566851),
                (17, 0.3235566851),
                (18, 0.3235566851),
                (19, 0.3235566851),
                (20, 0.3235566851),
                (21, 0.3821955809),
                (22, 0.2460731989),
                (24, 0.3235566851),
            ],
            &[
                (2, 0.3650114864),
                (3, 0.3650114864),
                (9, 0.2776006438),
                (10, 0.3650114864),
                (13, 0.3650114864),
                (15, 0.3650114864),
                (16, 0.3650114864),
                (21, 0.2155816639),
                (23, 0.2776006438),
            ],
            &[
                (0, 0.3055817537),
                (1, 0.3055817537),
                (4, 0.2324028002),
                (6, 0.3055817537),
                (7, 0.3055817537),
                (8, 0.3055817537),
                (9, 0.2324028002),
                (11, 0.3055817537),
                (12, 0.3055817537),
                (21, 0.3609630128),
                (22, 0.2324028002),
                (23, 0.2324028002),
            ],
        ];
        for (doc, want) in DOCS.iter().zip(expected) {
            let got = v.transform(doc);
            assert_eq!(got.len(), want.len(), "{doc}");
            for ((gc, gv), (wc, wv)) in got.iter().zip(want) {
                assert_eq!(gc, wc, "{doc}");
                assert!((gv - wv).abs() < 1e-9, "{doc}: column {gc}: {gv} vs {wv}");
            }
        }
    }

    #[test]
    fn min_df_drops_rare_terms_and_an_empty_vocabulary_is_an_error() {
        let config = TfidfConfig {
            min_df: 2,
            ..sklearn_config()
        };
        let v = TfidfVectorizer::fit(&DOCS, config.clone()).unwrap();
        let terms: Vec<&str> = (0..v.n_features()).filter_map(|i| v.term(i)).collect();
        assert_eq!(terms, ["cat", "dog", "the", "the cat", "the dog"]);
        let err = TfidfVectorizer::fit(&["a b c"], config).unwrap_err();
        assert!(matches!(err, LearnError::EmptyVocabulary { .. }), "{err}");
    }

    fn regex_words(doc: &str) -> Vec<String> {
        let lower = doc.to_lowercase();
        TOKEN
            .as_ref()
            .unwrap()
            .find_iter(&lower)
            .map(|m| m.as_str().to_owned())
            .collect()
    }

    fn scanned_words(doc: &str) -> Vec<String> {
        let (mut lower, mut spans) = (String::new(), Vec::new());
        words(doc, &mut lower, &mut spans);
        spans.iter().map(|&(s, e)| lower[s..e].to_owned()).collect()
    }

    #[test]
    fn the_ascii_scan_matches_the_token_regex_on_fixed_cases() {
        for doc in [
            "",
            "a",
            "ab",
            "A b_c D9 x",
            "Don't stop: e=mc^2, x_1 (y2)!",
            "__ _a 12 3",
            "end with word",
            "caf\u{e9} na\u{ef}ve \u{c9}cole ok",
        ] {
            assert_eq!(scanned_words(doc), regex_words(doc), "{doc:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn the_ascii_scan_matches_the_token_regex(doc in "[ -~\n\t]{0,80}") {
            proptest::prop_assert_eq!(scanned_words(&doc), regex_words(&doc));
        }
    }

    #[test]
    fn unknown_words_give_an_empty_row_and_serde_round_trips() {
        let v = TfidfVectorizer::fit(&DOCS, sklearn_config()).unwrap();
        assert!(v.transform("zebra xylophone").is_empty());
        let json = serde_json::to_string(&v).unwrap();
        let back: TfidfVectorizer = serde_json::from_str(&json).unwrap();
        assert_eq!(back, v);
        assert_eq!(back.transform(DOCS[2]), v.transform(DOCS[2]));
    }

    #[test]
    fn a_file_with_an_absurd_ngram_length_is_refused() {
        // Every request loops up to ngram_max: a corrupt value would hang each decision.
        let v = TfidfVectorizer::fit(&DOCS, sklearn_config()).unwrap();
        let json = serde_json::to_string(&v)
            .unwrap()
            .replace("\"ngram_max\":2", "\"ngram_max\":1000000000000000");
        let err = serde_json::from_str::<TfidfVectorizer>(&json).unwrap_err();
        assert!(err.to_string().contains("ngram_max"), "{err}");
        // The model file's reader adds "not a valid ... model"; this message must not.
        assert!(!err.to_string().contains("not a valid"), "{err}");
        let json = json.replace("1000000000000000", &MAX_NGRAM.to_string());
        assert!(serde_json::from_str::<TfidfVectorizer>(&json).is_ok());
    }
}
