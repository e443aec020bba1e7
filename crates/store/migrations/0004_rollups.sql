-- The dashboard's rollups: requests, errors, fallbacks, cache hits, spend, the
-- always-strongest baseline and the latest feedback scores per (bucket width, bucket start,
-- model, reason) of the decisions, kept by the record writer and by feedback in the same
-- transactions as the rows they count, so a range's summary reads a few thousand rows however
-- many records it holds. Widths: 60000 (minutes) and 3600000 (hours). `model` and `reason`
-- are '' where a record has none.
ALTER TABLE decisions ADD COLUMN fallback BIGINT NOT NULL DEFAULT 0;

CREATE TABLE decision_rollups (
    width_ms BIGINT NOT NULL,
    bucket_ms BIGINT NOT NULL,
    model TEXT NOT NULL,
    reason TEXT NOT NULL,
    requests BIGINT NOT NULL,
    errors BIGINT NOT NULL,
    fallbacks BIGINT NOT NULL,
    cache_hits BIGINT NOT NULL,
    cost_usd DOUBLE PRECISION NOT NULL,
    baseline_cost_usd DOUBLE PRECISION NOT NULL,
    ratings BIGINT NOT NULL,
    score_sum DOUBLE PRECISION NOT NULL,
    score_sq_sum DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (width_ms, bucket_ms, model, reason)
);

-- Records written before this version: rolled up once here (their fallbacks were not kept).
-- A record's latest feedback is the one no later feedback on it follows.
INSERT INTO decision_rollups
SELECT 60000, (d.created_ms / 60000) * 60000, COALESCE(d.model, ''), COALESCE(d.reason, ''),
       COUNT(*),
       SUM(CASE WHEN d.status >= 500 OR d.outcome = 'stream_error' THEN 1 ELSE 0 END),
       0,
       SUM(CASE WHEN d.outcome = 'cache_hit' THEN 1 ELSE 0 END),
       SUM(d.cost_usd), SUM(d.baseline_cost_usd),
       COUNT(f.score), COALESCE(SUM(f.score), 0), COALESCE(SUM(f.score * f.score), 0)
FROM decisions d
LEFT JOIN feedback f ON f.request_id = d.request_id AND NOT EXISTS (
    SELECT 1 FROM feedback g WHERE g.request_id = f.request_id
    AND (g.created_ms > f.created_ms OR (g.created_ms = f.created_ms AND g.id > f.id)))
GROUP BY (d.created_ms / 60000) * 60000, COALESCE(d.model, ''), COALESCE(d.reason, '');

INSERT INTO decision_rollups
SELECT 3600000, (bucket_ms / 3600000) * 3600000, model, reason,
       SUM(requests), SUM(errors), SUM(fallbacks), SUM(cache_hits),
       SUM(cost_usd), SUM(baseline_cost_usd), SUM(ratings), SUM(score_sum), SUM(score_sq_sum)
FROM decision_rollups
WHERE width_ms = 60000
GROUP BY (bucket_ms / 3600000) * 3600000, model, reason;
