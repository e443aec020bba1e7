use super::*;
use crate::catalog::Capability;
use crate::request::{ChatInput, Message, RequestContext, Role};
use crate::tokens::TokenCounter;

fn extract(prompt: &str) -> Signals {
    let extractor = SignalExtractor::new().unwrap();
    extractor.extract(&ChatInput::from_prompt(prompt), &RequestContext::default())
}

#[test]
fn token_counts_cover_every_message_and_user_tokens_only_the_user() {
    let extractor = SignalExtractor::new().unwrap();
    let input = ChatInput {
        messages: vec![
            Message::text(Role::System, "You are a helpful assistant."),
            Message::text(Role::User, "hello world"),
        ],
        ..ChatInput::default()
    };
    let s = extractor.extract(&input, &RequestContext::default());
    assert_eq!(s.user_tokens, 2);
    // 6 system tokens + 2 user tokens + 2 * 3 per-message + 3 per-reply.
    assert_eq!(s.prompt_tokens, 6 + 2 + 6 + 3);
    assert_eq!(s.messages, 2);
    assert_eq!(s.turns, 1);
}

#[test]
fn a_conversation_counts_the_same_when_its_earlier_messages_are_remembered() {
    let extractor = SignalExtractor::new().unwrap();
    let system =
        "You answer questions about our monitoring service, citing the runbook. ".repeat(40);
    let earlier =
        "Why does the alerting job lag behind by several minutes since Monday? ".repeat(5);
    let turn = |last: &str| ChatInput {
        messages: vec![
            Message::text(Role::System, system.clone()),
            Message::text(Role::User, earlier.clone()),
            Message::text(Role::Assistant, "Which version do you run?"),
            Message::text(Role::User, last),
        ],
        ..ChatInput::default()
    };
    let counter = TokenCounter::o200k();
    let expected = |input: &ChatInput| {
        input
            .messages
            .iter()
            .map(|m| counter.count(&m.text))
            .sum::<u32>()
            + TokenCounter::chat_overhead(input.messages.len())
    };
    // The first request counts everything; the next ones find the earlier messages remembered,
    // with different last questions (one the same length as the first).
    for last in [
        "version 2.3",
        "version 2.4",
        "since the upgrade last week, 2.4.1",
    ] {
        let input = turn(last);
        let signals = extractor.extract(&input, &RequestContext::default());
        assert_eq!(signals.prompt_tokens, expected(&input), "{last}");
        assert_eq!(
            signals.user_tokens,
            counter.count(&earlier) + counter.count(last)
        );
    }
}

/// The evidence of every user message scanned in order into one scan: what extraction did before
/// earlier messages were remembered.
fn scanned_in_order(extractor: &SignalExtractor, input: &ChatInput) -> scan::Scan {
    let last_user = input.messages.iter().rposition(|m| m.role == Role::User);
    let mut all = scan::Scan::default();
    for (index, message) in input.messages.iter().enumerate() {
        if message.role == Role::User {
            let is_last = Some(index) == last_user;
            scan::scan_text(&extractor.phrases, &message.text, is_last, &mut all);
        }
    }
    all
}

#[test]
fn earlier_turns_give_the_same_evidence_when_remembered() {
    let extractor = SignalExtractor::new().unwrap();
    let filler =
        "The team met on Monday and the notes went out to everyone on the list. ".repeat(4);
    // Long enough to be remembered. Keywords in an order the merge must keep ("why" in both);
    // one weak medical word and one code fragment in each, so that the domain and code are
    // present only if the merge adds the turns' evidence up.
    let first = format!("{filler} Compare the plans: why did the doctor see a `x => y` here?");
    let second = format!("{filler} Why did it fail? Explain the treatment and call run();");
    let alone = |text: &str| scanned_in_order(&extractor, &ChatInput::from_prompt(text));
    for turn in [&first, &second] {
        assert!(alone(turn).domain_scores.present().is_empty(), "{turn}");
        assert!(alone(turn).code_score < scan::CODE_THRESHOLD, "{turn}");
    }
    let conversation = |earlier: &[&str], last: &str, then: Option<&str>| ChatInput {
        messages: earlier
            .iter()
            .flat_map(|turn| {
                [
                    Message::text(Role::User, *turn),
                    Message::text(Role::Assistant, "Noted."),
                ]
            })
            .chain([Message::text(Role::User, last)])
            .chain(then.map(|reply| Message::text(Role::Assistant, reply)))
            .collect(),
        ..ChatInput::default()
    };
    let cases = [
        conversation(&[&first, &second], "Prove it.", None),
        conversation(&[&first, &second], "What should we do first?", None),
        conversation(
            &[&first, "short", &second],
            "Summarise this in one line.",
            None,
        ),
        conversation(&[&second, &second], "Prove it.", None),
        conversation(
            &[&first, &second],
            "Prove it.",
            Some("An assistant message last."),
        ),
        // A text that was an earlier turn, now the last question.
        conversation(&[&second], &first, None),
    ];
    for input in &cases {
        // The first extraction fills the tables where a text is new, the second finds them.
        for _ in 0..2 {
            let signals = extractor.extract(input, &RequestContext::default());
            let expected = scanned_in_order(&extractor, input);
            let last = &input.messages[input.messages.len() - 1].text;
            assert_eq!(
                signals.reasoning_keywords, expected.reasoning_keywords,
                "{last}"
            );
            assert_eq!(signals.domains, expected.domain_scores.present(), "{last}");
            assert_eq!(
                signals.has_code,
                expected.code_score >= scan::CODE_THRESHOLD,
                "{last}"
            );
            assert_eq!(signals.task_type, expected.task(), "{last}");
        }
    }
    let signals = extractor.extract(&cases[0], &RequestContext::default());
    assert_eq!(
        signals.reasoning_keywords,
        vec!["compare", "why", "explain", "prove"]
    );
    assert_eq!(signals.domains, vec![Domain::Medical]);
    assert!(signals.has_code);
    let kept = EARLIER_SCANS.with_borrow(|memo| memo.kept_bytes());
    assert!(
        kept >= first.len() + second.len(),
        "the earlier turns were remembered: {kept}"
    );
}

#[test]
fn reasoning_keywords_are_distinct_canonical_and_ordered() {
    let s = extract("Explain why this fails, and compare it with the explanation above. Why?");
    assert_eq!(s.reasoning_keywords, vec!["explain", "why", "compare"]);
    let s = extract("What would happen if the moon vanished? How does gravity work?");
    assert_eq!(s.reasoning_keywords, vec!["what would happen", "how does"]);
    assert!(
        extract("What's the capital of France?")
            .reasoning_keywords
            .is_empty()
    );
    // Whole words only: "whyever" and "explained" are not keywords.
    assert!(
        extract("Whyever not? I unexplained it.")
            .reasoning_keywords
            .is_empty()
    );
}

#[test]
fn every_task_type_is_recognised() {
    let cases = [
        (
            "Classify this ticket as billing, technical or other: my card was charged twice",
            TaskType::Classification,
        ),
        (
            "What is the sentiment of this review: the food was cold",
            TaskType::Sentiment,
        ),
        (
            "Extract all email addresses from the following text: a@b.com, c@d.org",
            TaskType::Extraction,
        ),
        (
            "Translate 'good morning' into French",
            TaskType::Translation,
        ),
        (
            "Summarize this article in three bullet points: ...",
            TaskType::Summarization,
        ),
        (
            "Write a Rust function that parses ISO-8601 dates",
            TaskType::CodeGeneration,
        ),
        ("Solve the equation x^2 - 5x + 6 = 0", TaskType::Math),
        ("What is 17 * 23?", TaskType::Math),
        (
            "Write a haiku about autumn leaves",
            TaskType::CreativeWriting,
        ),
        ("What's the capital of France?", TaskType::FactualQuestion),
        ("Who wrote Hamlet?", TaskType::FactualQuestion),
        ("how many moons does Mars have", TaskType::FactualQuestion),
        ("Design a novel ML architecture", TaskType::Design),
        (
            "What is the architecture of the Colosseum?",
            TaskType::FactualQuestion,
        ),
        (
            "Propose a system design for a multi-region payment ledger",
            TaskType::Design,
        ),
        ("Tell me about the French revolution", TaskType::OpenEnded),
    ];
    for (prompt, task) in cases {
        assert_eq!(extract(prompt).task_type, task, "prompt: {prompt}");
    }
}

#[test]
fn a_factual_question_is_short_single_line_and_asks_for_no_reasoning() {
    for prompt in [
        // Reasoning cues make it an argument, not a lookup.
        "Why is the capital of France Paris?",
        "What would happen if the moon disappeared?",
        // Long questions carry context to reason over.
        "What is the best way to restructure a team of forty engineers across three time zones when two of the leads are leaving next month?",
        // More than one line: a question with material attached.
        "What is this?\nfn main() {}",
        // Only a wh-word on its own boundary counts: "Whatever", "Whoever".
        "Whatever you do, keep it short",
        // Not a question at all, or two of them.
        "Name three growth strategies",
        "Who is she? What does she do?",
        "What a day. Tell me a joke",
        // Another task wins.
        "What is 17 * 23?",
    ] {
        assert_ne!(
            extract(prompt).task_type,
            TaskType::FactualQuestion,
            "prompt: {prompt}"
        );
    }
    assert_eq!(
        extract("  Which planet is largest?  ").task_type,
        TaskType::FactualQuestion
    );
    assert_eq!(
        extract("Qui a écrit Hamlet ?").task_type,
        TaskType::OpenEnded,
        "non-English questions are not matched by English wh-words"
    );
}

#[test]
fn task_type_comes_from_the_last_user_message() {
    let extractor = SignalExtractor::new().unwrap();
    let input = ChatInput {
        messages: vec![
            Message::text(Role::User, "Translate this into French: good morning"),
            Message::text(Role::Assistant, "Bonjour"),
            Message::text(Role::User, "Now write a poem about it"),
        ],
        ..ChatInput::default()
    };
    let s = extractor.extract(&input, &RequestContext::default());
    assert_eq!(s.task_type, TaskType::CreativeWriting);
    assert_eq!(s.turns, 2);
}

#[test]
fn domains_need_a_strong_word_or_two_weak_ones() {
    assert_eq!(
        extract("What dosage of ibuprofen is safe?").domains,
        vec![Domain::Medical]
    );
    assert_eq!(
        extract("Can my landlord sue me for breach of contract?").domains,
        vec![Domain::Legal]
    );
    assert_eq!(
        extract("Should I rebalance my portfolio?").domains,
        vec![Domain::Finance]
    );
    // One weak word is not enough.
    assert!(extract("The law of large numbers").domains.is_empty());
    assert!(
        extract("I have a pain in my neck, a doctor said")
            .domains
            .contains(&Domain::Medical)
    );
}

#[test]
fn intent_signals_ignore_the_system_prompt() {
    let extractor = SignalExtractor::new().unwrap();
    let input = ChatInput {
        messages: vec![
            Message::text(
                Role::System,
                "You are a medical assistant. Explain why, step by step.",
            ),
            Message::text(Role::User, "hi"),
        ],
        ..ChatInput::default()
    };
    let s = extractor.extract(&input, &RequestContext::default());
    assert!(s.domains.is_empty());
    assert!(s.reasoning_keywords.is_empty());
}

#[test]
fn code_is_detected_from_fences_or_several_fragments() {
    assert!(extract("Why does this fail?\n```\nlet x = 1;\n```").has_code);
    assert!(extract("fn main() { println!(\"hi\"); }").has_code);
    assert!(!extract("Please return the book tomorrow").has_code);
}

#[test]
fn images_tier_model_request_hour_and_output_cap_are_carried() {
    let extractor = SignalExtractor::new().unwrap();
    let input = ChatInput {
        messages: vec![Message {
            role: Role::User,
            text: "What is in this picture?".into(),
            image_parts: 2,
        }],
        requested_model: Some("gpt-4o".into()),
        max_output_tokens: Some(100),
        needs: vec![Capability::Tools],
    };
    let context = RequestContext {
        user_tier: "premium".into(),
        hour_of_day: 30,
    };
    let s = extractor.extract(&input, &context);
    assert_eq!(s.image_parts, 2);
    assert_eq!(s.needs, [Capability::Tools]);
    assert_eq!(s.requested_model.as_deref(), Some("gpt-4o"));
    assert_eq!(s.user_tier, "premium");
    assert_eq!(s.hour_of_day, 23, "an out-of-range hour is clamped");
    assert_eq!(s.required_context(256), s.prompt_tokens + 100);
}

#[test]
fn non_ascii_emoji_cjk_and_long_inputs_work() {
    let s = extract("请解释为什么天空是蓝色的？🌈 Explain why, s'il vous plaît — naïve café");
    assert!(s.prompt_tokens > 10);
    assert_eq!(s.reasoning_keywords, vec!["explain", "why"]);
    let long = "Ünïcödé text with emoji 🚀 and 漢字. ".repeat(20_000);
    let s = extract(&long);
    assert!(s.prompt_tokens > 100_000);
}

#[test]
fn names_round_trip_through_parse() {
    for task in TaskType::ALL {
        assert_eq!(TaskType::parse(task.as_str()), Some(task));
    }
    assert_eq!(
        TaskType::parse("summarisation"),
        Some(TaskType::Summarization)
    );
    for domain in Domain::ALL {
        assert_eq!(Domain::parse(domain.as_str()), Some(domain));
    }
    assert_eq!(TaskType::parse("nonsense"), None);
}
