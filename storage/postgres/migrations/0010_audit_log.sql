-- The verifiable audit log (package audit): entries written by any replica
-- without a sequence number, then given leaf indices in batches by one
-- integrator at a time (pg_try_advisory_xact_lock in its transaction), which
-- stores the new Merkle tree nodes and the new signed tree head in the same
-- transaction. The hash-chained audit_entries trail is left as it is.

CREATE TABLE audit_log_entries (
    -- seq orders pending entries for the integrator; it is not the leaf
    -- index and may have gaps.
    seq        bigserial PRIMARY KEY,
    id         text NOT NULL UNIQUE,
    leaf_index bigint UNIQUE CHECK (leaf_index >= 0), -- NULL until integrated
    at         timestamptz NOT NULL,
    type       text NOT NULL,
    actor      text NOT NULL,
    citizen_id text NOT NULL,
    agency_id  text NOT NULL,
    permit_id  text NOT NULL,
    client_id  text NOT NULL,
    purpose    text NOT NULL,
    claims     text[] NOT NULL,
    ial        text NOT NULL,
    outcome    text NOT NULL,
    detail     text NOT NULL
);

CREATE INDEX audit_log_entries_pending ON audit_log_entries (seq) WHERE leaf_index IS NULL;

-- Roots of perfect subtrees only: written once, never changed.
CREATE TABLE audit_log_nodes (
    level smallint NOT NULL CHECK (level >= 0 AND level < 64),
    idx   bigint NOT NULL CHECK (idx >= 0),
    hash  bytea NOT NULL,
    PRIMARY KEY (level, idx)
);

-- One row per tree head. prev_size is unique, so two integrators extending
-- the same head cannot both commit: the log cannot fork in the database.
CREATE TABLE audit_log_heads (
    size       bigint PRIMARY KEY,
    prev_size  bigint NOT NULL UNIQUE,
    root       bytea NOT NULL,
    compact    bytea NOT NULL, -- the compact range [0, size), hashes concatenated
    at         timestamptz NOT NULL,
    checkpoint bytea NOT NULL,
    CHECK (size > prev_size AND prev_size >= 0)
);

CREATE TABLE audit_log_keys (
    origin      text PRIMARY KEY,
    public_key  text NOT NULL,
    private_key bytea NOT NULL,
    created_at  timestamptz NOT NULL
);
