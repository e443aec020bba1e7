//! The rules policy: declarative conditions over signals, first match wins.
//!
//! [`RulesPolicy::default_rules`] encodes the common wisdom of routing (listed in docs/CONFIG.md, "Rules") and works for any
//! catalog because it targets tier positions (`cheapest`, `middle`, `strongest`), not names.

use super::{Choice, Policy, PolicyInput, Target, resolve_target_name};
use crate::catalog::{Capability, Catalog};
use crate::signals::{Domain, Signals, TaskType};
use rand::RngCore;

/// A condition over [`Signals`]. Token conditions use `prompt_tokens`: what the model must read.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// Always true (an empty `when`).
    Always,
    All(Vec<Condition>),
    Any(Vec<Condition>),
    Not(Box<Condition>),
    /// The caller's tier is one of these.
    UserTier(Vec<String>),
    /// The task type is one of these.
    Task(Vec<TaskType>),
    /// The request touches one of these domains.
    Domain(Vec<Domain>),
    /// One of these reasoning keywords (canonical names) was found.
    ReasoningKeyword(Vec<String>),
    /// At least this many distinct reasoning keywords were found.
    MinReasoningKeywords(u32),
    /// `prompt_tokens >= n`.
    MinTokens(u32),
    /// `prompt_tokens <= n`.
    MaxTokens(u32),
    MinTurns(u32),
    HasCode(bool),
    HasImage(bool),
    /// The hour of day is in `[from, to)`, wrapping past midnight when `from > to`.
    HourBetween {
        from: u8,
        to: u8,
    },
    /// `model` scored below `score` on average over similar rated requests, of which there
    /// were at least `min_count` (the track record signal).
    TrackRecordBelow {
        model: String,
        score: f64,
        min_count: u32,
    },
}

impl Condition {
    pub fn matches(&self, s: &Signals) -> bool {
        match self {
            Condition::Always => true,
            Condition::All(all) => all.iter().all(|c| c.matches(s)),
            Condition::Any(any) => any.iter().any(|c| c.matches(s)),
            Condition::Not(inner) => !inner.matches(s),
            Condition::UserTier(tiers) => tiers.contains(&s.user_tier),
            Condition::Task(tasks) => tasks.contains(&s.task_type),
            Condition::Domain(domains) => domains.iter().any(|d| s.has_domain(*d)),
            Condition::ReasoningKeyword(words) => s
                .reasoning_keywords
                .iter()
                .any(|found| words.iter().any(|w| w == found)),
            Condition::MinReasoningKeywords(n) => {
                u32::try_from(s.reasoning_keywords.len()).unwrap_or(u32::MAX) >= *n
            }
            Condition::MinTokens(n) => s.prompt_tokens >= *n,
            Condition::MaxTokens(n) => s.prompt_tokens <= *n,
            Condition::MinTurns(n) => s.turns >= *n,
            Condition::HasCode(want) => s.has_code == *want,
            Condition::HasImage(want) => (s.image_parts > 0) == *want,
            Condition::TrackRecordBelow {
                model,
                score,
                min_count,
            } => s
                .track_record_of(model, *min_count)
                .is_some_and(|record| record.mean_score < *score),
            Condition::HourBetween { from, to } => {
                let h = s.hour_of_day;
                if from <= to {
                    (*from..*to).contains(&h)
                } else {
                    h >= *from || h < *to
                }
            }
        }
    }
}

/// One rule: if `when` matches, go to `target`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Unique name, shown in explanations and used as the metrics reason (`rule:NAME`).
    pub name: String,
    /// Why the rule exists, for humans.
    pub description: String,
    pub when: Condition,
    pub target: Target,
    /// Capabilities wanted in the chosen model.
    pub require: Vec<Capability>,
}

impl Rule {
    /// What this rule decides when it matches: its target, named `rule:NAME`, with its reason.
    pub fn choice(&self) -> Choice {
        Choice::new(
            self.target,
            format!("rule:{}", self.name),
            format!("rule `{}` matched: {}", self.name, self.description),
        )
        .requiring(self.require.clone())
    }
}

/// Rules in order; the first that matches decides, else `default_target`.
#[derive(Debug, Clone, PartialEq)]
pub struct RulesPolicy {
    rules: Vec<Rule>,
    default_target: Target,
}

impl RulesPolicy {
    pub fn new(rules: Vec<Rule>, default_target: Target) -> Self {
        Self {
            rules,
            default_target,
        }
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The built-in rule set, resolved against a catalog. Order matters: caller privileges and
    /// high-stakes domains first, then tasks a small model does well, then reasoning, then size.
    pub fn default_rules(catalog: &Catalog) -> Self {
        let cheapest = Target::Tier(0);
        let middle = Target::Tier(catalog.middle_tier());
        let strongest = Target::Tier(catalog.top_tier());
        let rule = |name: &str, description: &str, when, target, require: &[Capability]| Rule {
            name: name.to_owned(),
            description: description.to_owned(),
            when,
            target,
            require: require.to_vec(),
        };
        let rules = vec![
            rule(
                "premium-tier",
                "premium callers always get the most capable model",
                Condition::UserTier(vec!["premium".to_owned()]),
                strongest,
                &[],
            ),
            rule(
                "high-stakes-domain",
                "medical and legal questions go to the most capable model",
                Condition::Domain(vec![Domain::Medical, Domain::Legal]),
                strongest,
                &[],
            ),
            rule(
                "code-generation",
                "writing code goes to a code-capable upper tier",
                Condition::Task(vec![TaskType::CodeGeneration]),
                middle,
                &[Capability::Code],
            ),
            rule(
                "multi-step-reasoning",
                "maths, design work, or two or more reasoning cues (why, explain, compare, ...), need the most capable model",
                Condition::Any(vec![
                    Condition::Task(vec![TaskType::Math, TaskType::Design]),
                    Condition::MinReasoningKeywords(2),
                ]),
                strongest,
                &[],
            ),
            rule(
                "simple-task",
                "classification, sentiment, extraction and translation are done well by small models",
                Condition::Task(vec![
                    TaskType::Classification,
                    TaskType::Sentiment,
                    TaskType::Extraction,
                    TaskType::Translation,
                ]),
                cheapest,
                &[],
            ),
            rule(
                "long-summary",
                "summaries of very long inputs (over 16,000 tokens) go to an upper tier",
                Condition::All(vec![
                    Condition::Task(vec![TaskType::Summarization]),
                    Condition::MinTokens(16_001),
                ]),
                middle,
                &[],
            ),
            rule(
                "summary",
                "summaries of inputs up to 16,000 tokens are done well by small models",
                Condition::Task(vec![TaskType::Summarization]),
                cheapest,
                &[],
            ),
            rule(
                "short-and-simple",
                "short requests (up to 200 tokens) without reasoning cues or code go to the cheapest tier",
                Condition::All(vec![
                    Condition::MaxTokens(200),
                    Condition::Not(Box::new(Condition::MinReasoningKeywords(1))),
                    Condition::HasCode(false),
                ]),
                cheapest,
                &[],
            ),
        ];
        Self::new(rules, middle)
    }

    /// Builds a rule set whose default is given by name (see [`resolve_target_name`]).
    pub fn with_default_name(rules: Vec<Rule>, catalog: &Catalog, default: &str) -> Option<Self> {
        resolve_target_name(catalog, default).map(|target| Self::new(rules, target))
    }
}

impl Policy for RulesPolicy {
    fn name(&self) -> &str {
        "rules"
    }

    fn choose(&self, input: &PolicyInput<'_>, _rng: &mut dyn RngCore) -> Choice {
        for rule in &self.rules {
            if rule.when.matches(input.signals) {
                return rule.choice();
            }
        }
        Choice::new(
            self.default_target,
            "rule:default",
            "no rule matched, so the default target applies",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{ChatInput, Message, RequestContext, Role};
    use crate::signals::SignalExtractor;

    fn signals(messages: &[(Role, &str, u32)], tier: &str, hour: u8) -> Signals {
        let input = ChatInput {
            messages: messages
                .iter()
                .map(|(role, text, images)| Message {
                    role: *role,
                    text: (*text).to_owned(),
                    image_parts: *images,
                })
                .collect(),
            ..ChatInput::default()
        };
        let context = RequestContext {
            user_tier: tier.to_owned(),
            hour_of_day: hour,
        };
        SignalExtractor::new().unwrap().extract(&input, &context)
    }

    #[test]
    fn every_condition_matches_what_it_says() {
        let s = signals(
            &[
                (Role::User, "Why is the sky blue? Explain.", 0),
                (Role::Assistant, "Rayleigh scattering.", 0),
                (Role::User, "Translate that into French. ```x```", 1),
            ],
            "premium",
            23,
        );
        let holds = |c: Condition| c.matches(&s);
        assert!(holds(Condition::Always));
        assert!(holds(Condition::UserTier(vec!["premium".into()])));
        assert!(!holds(Condition::UserTier(vec!["free".into()])));
        assert!(holds(Condition::Task(vec![TaskType::Translation])));
        assert!(!holds(Condition::Task(vec![TaskType::Math])));
        assert!(!holds(Condition::Domain(vec![Domain::Legal])));
        assert!(holds(Condition::ReasoningKeyword(vec!["explain".into()])));
        assert!(!holds(Condition::ReasoningKeyword(vec!["compare".into()])));
        assert!(holds(Condition::MinReasoningKeywords(2)));
        assert!(!holds(Condition::MinReasoningKeywords(3)));
        assert!(holds(Condition::MinTokens(10)));
        assert!(!holds(Condition::MinTokens(10_000)));
        assert!(holds(Condition::MaxTokens(10_000)));
        assert!(!holds(Condition::MaxTokens(5)));
        assert!(holds(Condition::MinTurns(2)));
        assert!(!holds(Condition::MinTurns(3)));
        assert!(holds(Condition::HasCode(true)));
        assert!(holds(Condition::HasImage(true)));
        assert!(!holds(Condition::HasImage(false)));
        assert!(holds(Condition::HourBetween { from: 22, to: 6 }));
        assert!(!holds(Condition::HourBetween { from: 9, to: 17 }));
        assert!(holds(Condition::HourBetween { from: 20, to: 24 }));
        assert!(holds(Condition::All(vec![
            Condition::Always,
            Condition::MinTurns(2)
        ])));
        assert!(!holds(Condition::All(vec![
            Condition::Always,
            Condition::MinTurns(3)
        ])));
        assert!(holds(Condition::Any(vec![
            Condition::MinTurns(3),
            Condition::Always
        ])));
        assert!(!holds(Condition::Any(vec![])));
        assert!(holds(Condition::Not(Box::new(Condition::MinTurns(3)))));
    }

    #[test]
    fn first_matching_rule_wins_and_the_default_catches_the_rest() {
        let rule = |name: &str, when, tier| Rule {
            name: name.into(),
            description: String::new(),
            when,
            target: Target::Tier(tier),
            require: vec![],
        };
        let policy = RulesPolicy::new(
            vec![
                rule("a", Condition::MinTurns(5), 2),
                rule("b", Condition::MaxTokens(1_000), 0),
                rule("c", Condition::Always, 1),
            ],
            Target::Tier(1),
        );
        let catalog = crate::catalog::Catalog::new(
            vec!["s".into(), "m".into(), "l".into()],
            vec![crate::catalog::ModelSpec {
                name: "x".into(),
                provider: "p".into(),
                upstream_model: "x".into(),
                tier: 0,
                input_usd_per_mtok: 1.0,
                output_usd_per_mtok: 1.0,
                context_window: 1_000,
                capabilities: vec![],
            }],
        )
        .unwrap();
        let s = signals(&[(Role::User, "hello", 0)], "standard", 12);
        let request = ChatInput::from_prompt("hello");
        let eligible = crate::catalog::ModelSet::all(&catalog);
        let input = PolicyInput::plain(&s, &request, &catalog, &eligible);
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(0);
        let choice = policy.choose(&input, &mut rng);
        assert_eq!(
            (choice.reason.as_str(), choice.target),
            ("rule:b", Target::Tier(0))
        );
        let fallback =
            RulesPolicy::new(vec![rule("a", Condition::MinTurns(5), 2)], Target::Tier(1));
        let choice = fallback.choose(&input, &mut rng);
        assert_eq!(
            (choice.reason.as_str(), choice.target),
            ("rule:default", Target::Tier(1))
        );
    }

    #[test]
    fn track_record_below_needs_enough_similar_ratings_of_that_model() {
        use crate::memory::TrackRecord;
        let mut s = signals(&[(Role::User, "hello", 0)], "standard", 12);
        let below = Condition::TrackRecordBelow {
            model: "small".into(),
            score: 0.5,
            min_count: 3,
        };
        assert!(!below.matches(&s), "no record");
        s.track_record = vec![TrackRecord {
            model: "small".into(),
            mean_score: 0.2,
            count: 2,
        }];
        assert!(!below.matches(&s), "too few ratings");
        s.track_record[0].count = 3;
        assert!(below.matches(&s));
        s.track_record[0].mean_score = 0.5;
        assert!(!below.matches(&s), "not below");
        s.track_record[0].model = "large".into();
        s.track_record[0].mean_score = 0.0;
        assert!(!below.matches(&s), "another model's record");
    }
}
