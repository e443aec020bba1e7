use super::*;

fn upgrade(request: &str, min_tier: usize, expires: u64) -> Upgrade {
    Upgrade {
        rated_request: request.to_owned(),
        rated_model: "small".to_owned(),
        min_tier,
        created_unix_ms: 0,
        expires_unix_ms: expires,
    }
}

#[test]
fn an_upgrade_lifts_similar_queries_until_it_expires_or_is_released() {
    let mut memory = UpgradeMemory::new(100);
    let rated = Fingerprint::of("Summarise the attached quarterly earnings report for the board");
    memory.remember(rated, upgrade("r1", 1, 1_000));
    let similar =
        Fingerprint::of("summarise the attached quarterly earnings report for the board please");
    let unlike = Fingerprint::of("What is the capital of France?");
    let floor = memory.floor(&similar, 500, 0.6).unwrap();
    assert_eq!(
        (floor.upgrade.min_tier, floor.upgrade.rated_request.as_str()),
        (1, "r1")
    );
    assert!(floor.similarity >= 0.6);
    assert!(memory.floor(&unlike, 500, 0.6).is_none());
    assert!(memory.floor(&similar, 1_000, 0.6).is_none(), "expired");
    assert!(memory.release("r1"));
    assert!(memory.floor(&similar, 500, 0.6).is_none(), "released");
    assert!(!memory.release("r1"));
}

#[test]
fn the_highest_floor_wins_and_expiry_clears_the_index() {
    let mut memory = UpgradeMemory::new(100);
    let text = Fingerprint::of("Plan a three day trip to Kyoto with a budget");
    memory.remember(text, upgrade("low", 1, 100));
    memory.remember(text, upgrade("high", 2, 50));
    assert_eq!(memory.floor(&text, 10, 0.6).unwrap().upgrade.min_tier, 2);
    assert_eq!(memory.floor(&text, 60, 0.6).unwrap().upgrade.min_tier, 1);
    assert_eq!(memory.expire(60), 1);
    assert_eq!(memory.len(), 1);
    memory.remember(text, upgrade("low", 2, 100));
    assert_eq!(memory.len(), 1, "one entry per rated request");
}

#[test]
fn a_full_memory_forgets_its_oldest_upgrade() {
    let mut memory = UpgradeMemory::new(2);
    for (i, text) in ["alpha beta gamma", "delta epsilon zeta", "eta theta iota"]
        .iter()
        .enumerate()
    {
        memory.remember(
            Fingerprint::of(text),
            upgrade(&format!("r{i}"), 1, u64::MAX),
        );
    }
    assert_eq!(memory.len(), 2);
    assert!(
        memory
            .floor(&Fingerprint::of("alpha beta gamma"), 0, 0.9)
            .is_none()
    );
    assert!(
        !memory.release("r0"),
        "its request index entry went with it"
    );
    assert!(memory.release("r2"));
}

#[test]
fn the_track_record_averages_the_most_similar_ratings_per_model() {
    let mut rated = RatedQueries::new(100);
    let rate = |rated: &mut RatedQueries, request: &str, text: &str, model: &str, score: f64| {
        rated.rate(
            Fingerprint::of(text),
            Rating {
                request: request.to_owned(),
                model: model.to_owned(),
                score,
            },
        );
    };
    rate(
        &mut rated,
        "a",
        "convert this csv file to json format",
        "small",
        0.0,
    );
    rate(
        &mut rated,
        "b",
        "convert this csv file to json format now",
        "small",
        1.0,
    );
    rate(
        &mut rated,
        "c",
        "convert this csv file to json format please",
        "large",
        1.0,
    );
    rate(
        &mut rated,
        "d",
        "a completely different question about history",
        "small",
        1.0,
    );
    let record = rated.track_record(
        &Fingerprint::of("convert this csv file to json format"),
        10,
        0.5,
    );
    assert_eq!(
        record,
        [
            TrackRecord {
                model: "large".into(),
                mean_score: 1.0,
                count: 1
            },
            TrackRecord {
                model: "small".into(),
                mean_score: 0.5,
                count: 2
            },
        ]
    );
    rate(
        &mut rated,
        "a",
        "convert this csv file to json format",
        "small",
        1.0,
    );
    let record = rated.track_record(
        &Fingerprint::of("convert this csv file to json format"),
        10,
        0.5,
    );
    assert_eq!(
        record[1].mean_score, 1.0,
        "the latest rating of a request counts"
    );
    let nearest = rated.track_record(
        &Fingerprint::of("convert this csv file to json format"),
        1,
        0.5,
    );
    assert_eq!(nearest.iter().map(|r| r.count).sum::<u32>(), 1);
}
