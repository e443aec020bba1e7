//! Option overlap: how alike the answer options of a multiple-choice question are.
//!
//! When a distractor shares most of its words with another option ("the inner membrane" /
//! "the outer membrane"), the question hinges on a fine distinction, which is where a frontier
//! model pulls ahead of a small one. Like word rarity, and unlike the words themselves, this
//! carries over to subjects never seen in training.

use super::rarity::letter_runs;

/// The largest word-set Jaccard similarity between two of `options`, in [0, 1]. Words are runs
/// of ASCII letters, case folded (as for word rarity), so numbers and punctuation do not count;
/// a pair in which neither option has a word is skipped. 0 with fewer than two options.
pub fn max_option_overlap(options: &[&str]) -> f64 {
    if options.len() < 2 {
        return 0.0;
    }
    let lowered: Vec<String> = options.iter().map(|o| o.to_ascii_lowercase()).collect();
    let word_sets: Vec<Vec<&str>> = lowered.iter().map(|o| word_set(o)).collect();
    let mut best: f64 = 0.0;
    for (i, a) in word_sets.iter().enumerate() {
        for b in &word_sets[i + 1..] {
            let shared = shared_words(a, b);
            let union = a.len() + b.len() - shared;
            if union > 0 {
                best = best.max(shared as f64 / union as f64);
            }
        }
    }
    best
}

/// The distinct runs of ASCII letters of an already lowercased text, sorted.
fn word_set(text: &str) -> Vec<&str> {
    let mut words: Vec<&str> = letter_runs(text).collect();
    words.sort_unstable();
    words.dedup();
    words
}

/// Words in both sorted, deduplicated sets, by one merge pass.
fn shared_words(a: &[&str], b: &[&str]) -> usize {
    let (mut i, mut j, mut shared) = (0, 0, 0);
    while let (Some(x), Some(y)) = (a.get(i), b.get(j)) {
        match x.cmp(y) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                shared += 1;
                i += 1;
                j += 1;
            }
        }
    }
    shared
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn near_duplicate_distractors_overlap_most() {
        let close = ["the inner membrane", "the outer membrane", "a ribosome"];
        // {the, inner, membrane} and {the, outer, membrane}: 2 shared of 4.
        assert!((max_option_overlap(&close) - 0.5).abs() < 1e-12);
        let distinct = ["helicase", "ligase", "primase"];
        assert_eq!(max_option_overlap(&distinct), 0.0);
        assert_eq!(max_option_overlap(&["True, True", "TRUE, true"]), 1.0);
        assert_eq!(max_option_overlap(&["12", "13", "14"]), 0.0, "no words");
        assert_eq!(max_option_overlap(&["only one"]), 0.0);
    }

    fn reference_set(text: &str) -> BTreeSet<String> {
        regex::Regex::new("[A-Za-z]+")
            .unwrap()
            .find_iter(text)
            .map(|m| m.as_str().to_ascii_lowercase())
            .collect()
    }

    proptest::proptest! {
        #[test]
        fn overlap_is_the_best_pairwise_jaccard(
            options in proptest::collection::vec("[a-cA-C ,.1\u{e9}]{0,12}", 0..6)
        ) {
            let refs: Vec<&str> = options.iter().map(String::as_str).collect();
            let sets: Vec<BTreeSet<String>> = refs.iter().map(|o| reference_set(o)).collect();
            let mut expected: f64 = 0.0;
            for i in 0..sets.len() {
                for j in i + 1..sets.len() {
                    let union = sets[i].union(&sets[j]).count();
                    if union > 0 {
                        let shared = sets[i].intersection(&sets[j]).count();
                        expected = expected.max(shared as f64 / union as f64);
                    }
                }
            }
            let got = max_option_overlap(&refs);
            proptest::prop_assert!((got - expected).abs() < 1e-12, "{got} vs {expected}");
            let mut reversed = refs.clone();
            reversed.reverse();
            proptest::prop_assert_eq!(got, max_option_overlap(&reversed));
        }
    }
}
