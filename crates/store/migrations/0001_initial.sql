-- routewise store, version 1. Portable SQL: the same text runs on SQLite and PostgreSQL
-- (BYTEA keeps blobs in SQLite too; times are Unix milliseconds).

CREATE TABLE decisions (
    request_id TEXT PRIMARY KEY,
    created_ms BIGINT NOT NULL,
    key_name TEXT,
    route TEXT,
    policy TEXT,
    reason TEXT,
    experiment TEXT,
    arm TEXT,
    model TEXT,
    tier BIGINT,
    propensity DOUBLE PRECISION NOT NULL,
    outcome TEXT NOT NULL,
    status BIGINT NOT NULL,
    prompt_tokens BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    cost_usd DOUBLE PRECISION NOT NULL,
    baseline_cost_usd DOUBLE PRECISION NOT NULL,
    latency_ms DOUBLE PRECISION NOT NULL,
    overhead_ms DOUBLE PRECISION NOT NULL,
    fingerprint BYTEA,
    prompt_hash TEXT,
    prompt TEXT,
    upgraded_by TEXT,
    body TEXT NOT NULL
);
CREATE INDEX decisions_created ON decisions (created_ms);

CREATE TABLE feedback (
    id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    source TEXT NOT NULL,
    comment TEXT,
    key_name TEXT
);
CREATE INDEX feedback_request ON feedback (request_id, created_ms);
CREATE INDEX feedback_created ON feedback (created_ms);

CREATE TABLE upgrades (
    rated_request TEXT PRIMARY KEY,
    rated_model TEXT NOT NULL,
    min_tier BIGINT NOT NULL,
    fingerprint BYTEA NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL
);
CREATE INDEX upgrades_expires ON upgrades (expires_ms);

CREATE TABLE policy_state (
    policy TEXT PRIMARY KEY,
    updated_ms BIGINT NOT NULL,
    state TEXT NOT NULL
);
