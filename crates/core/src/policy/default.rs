//! The default policy: what routewise routes with when given no config. A guard rule a platform
//! team expects whatever the request looks like (premium callers get the most capable model),
//! then the complexity score for everything else.
//!
//! The default rules' `high-stakes-domain` (medical and legal to the most capable model) is not
//! a guard here: on the bundled benchmarks it sends questions that merely mention a patient or a
//! contract to the strong model for no gain (with it, APGR on RouterBench held out fell from
//! 0.453 to 0.429 when measured), so a domain only raises the score. Configure `rules` to keep it.
//!
//! Why the complexity score decides the rest: of the policies that need no training data, it
//! holds up best on kinds of traffic it was never tuned on (leave-one-benchmark-out in
//! docs/EVALUATION.md); a learned router trained on the bundled benchmarks falls to chance there.

use super::{Choice, ComplexityPolicy, Policy, PolicyInput, Rule, RulesPolicy};
use crate::catalog::Catalog;
use rand::RngCore;

/// The names of the default rules that guard the default policy, in order.
pub const GUARD_RULES: [&str; 1] = ["premium-tier"];

/// Guard rules first, then the complexity score.
#[derive(Debug, Clone, PartialEq)]
pub struct DefaultPolicy {
    guards: Vec<Rule>,
    score: ComplexityPolicy,
}

impl DefaultPolicy {
    /// The guard rules of [`GUARD_RULES`] (from [`RulesPolicy::default_rules`]) over `catalog`,
    /// then `score`.
    pub fn new(catalog: &Catalog, score: ComplexityPolicy) -> Self {
        let guards = RulesPolicy::default_rules(catalog)
            .rules()
            .iter()
            .filter(|rule| GUARD_RULES.contains(&rule.name.as_str()))
            .cloned()
            .collect();
        Self { guards, score }
    }
}

impl Policy for DefaultPolicy {
    fn name(&self) -> &str {
        "default"
    }

    fn choose(&self, input: &PolicyInput<'_>, rng: &mut dyn RngCore) -> Choice {
        if let Some(rule) = self.guards.iter().find(|r| r.when.matches(input.signals)) {
            return rule.choice();
        }
        let mut choice = self.score.choose(input, rng);
        choice.detail = format!("no guard rule matched; {}", choice.detail);
        choice
    }

    fn steerable(&self) -> bool {
        self.score.steerable()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Capability, ModelSet, ModelSpec};
    use crate::policy::Target;
    use crate::request::{ChatInput, RequestContext};
    use crate::signals::SignalExtractor;
    use rand::SeedableRng;

    fn catalog() -> Catalog {
        let spec = |name: &str, tier: usize| ModelSpec {
            name: name.to_owned(),
            provider: "p".to_owned(),
            upstream_model: name.to_owned(),
            tier,
            input_usd_per_mtok: 1.0,
            output_usd_per_mtok: 1.0,
            context_window: 100_000,
            capabilities: Capability::ALL.to_vec(),
        };
        Catalog::new(
            vec!["small".into(), "medium".into(), "large".into()],
            vec![spec("s", 0), spec("m", 1), spec("l", 2)],
        )
        .unwrap()
    }

    fn choose(prompt: &str, tier: &str) -> Choice {
        let catalog = catalog();
        let policy = DefaultPolicy::new(&catalog, ComplexityPolicy::default_for_tiers(3));
        let context = RequestContext {
            user_tier: tier.to_owned(),
            ..RequestContext::default()
        };
        let request = ChatInput::from_prompt(prompt);
        let signals = SignalExtractor::new().unwrap().extract(&request, &context);
        let eligible = ModelSet::all(&catalog);
        let input = PolicyInput::plain(&signals, &request, &catalog, &eligible);
        policy.choose(&input, &mut rand::rngs::StdRng::seed_from_u64(0))
    }

    #[test]
    fn guards_decide_first_and_the_score_decides_the_rest() {
        let premium = choose("What's the capital of France?", "premium");
        assert_eq!(
            (premium.target, premium.reason.as_str()),
            (Target::Tier(2), "rule:premium-tier")
        );
        let medical = choose(
            "What dosage of this medication is safe for my patient?",
            "standard",
        );
        assert!(
            medical.reason.starts_with("complexity:"),
            "a domain raises the score, it does not decide: {}",
            medical.reason
        );
        let plain = choose("What's the capital of France?", "standard");
        assert_eq!(
            (plain.target, plain.reason.as_str()),
            (Target::Tier(0), "complexity:tier-0")
        );
        assert!(
            plain
                .detail
                .starts_with("no guard rule matched; complexity 0.")
        );
        assert!(plain.score.is_some());
    }
}
