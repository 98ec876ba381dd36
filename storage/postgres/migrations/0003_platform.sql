-- The DOPA side: agencies, applications, permits and decisions,
-- administrator accounts, consents and the audit trail. Conventions as in
-- 0001. Nested records a query never looks inside (contacts, purposes,
-- systems, supervisors) are jsonb, written by encoding/json.

CREATE TABLE agencies (
    id              text PRIMARY KEY,
    name_th         text NOT NULL,
    name_en         text NOT NULL,
    category        text NOT NULL,
    registration_no text NOT NULL,
    contacts        jsonb NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);

CREATE TABLE applications (
    id                  text PRIMARY KEY,
    agency_id           text NOT NULL,
    mission             text NOT NULL,
    reason              text NOT NULL,
    necessity           text NOT NULL,
    purposes            jsonb NOT NULL,
    systems             jsonb NOT NULL,
    acceptance_name     text NOT NULL,
    acceptance_position text NOT NULL,
    acceptance_at       timestamptz,
    terms_version       text NOT NULL,
    recorded_by         text NOT NULL,
    created_at          timestamptz NOT NULL
);

CREATE INDEX applications_agency_id ON applications (agency_id, created_at);

-- version is incremented by the store on every update; a consent names the
-- version it was given for.
CREATE TABLE permits (
    id             text PRIMARY KEY,
    number         text NOT NULL,
    agency_id      text NOT NULL,
    application_id text NOT NULL,
    state          text NOT NULL,
    valid_from     timestamptz,
    valid_until    timestamptz,
    purposes       jsonb NOT NULL,
    conditions     text NOT NULL,
    supervisors    jsonb NOT NULL,
    version        integer NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);

-- A pending permit has no number yet.
CREATE UNIQUE INDEX permits_number ON permits (number) WHERE number <> '';
CREATE INDEX permits_agency_id ON permits (agency_id, created_at DESC);

-- pos keeps the order of decisions recorded at the same instant.
CREATE TABLE decisions (
    id           text PRIMARY KEY,
    pos          bigint GENERATED ALWAYS AS IDENTITY,
    permit_id    text NOT NULL,
    action       text NOT NULL,
    decided_by   text NOT NULL,
    notice       text NOT NULL,
    recorded_at  timestamptz NOT NULL,
    effective_at timestamptz NOT NULL,
    applied_at   timestamptz,
    payload      bytea
);

CREATE INDEX decisions_permit_id ON decisions (permit_id, recorded_at, pos);
-- The scheduler polls for due decisions: only unapplied ones matter.
CREATE INDEX decisions_due ON decisions (effective_at, recorded_at, pos) WHERE applied_at IS NULL;

CREATE INDEX clients_permit_id ON clients (permit_id);

CREATE TABLE admins (
    id            text PRIMARY KEY,
    username      text NOT NULL UNIQUE,
    name          text NOT NULL,
    role          text NOT NULL,
    agency_id     text NOT NULL,
    password_hash text NOT NULL,
    totp_secret   bytea,
    disabled      boolean NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);

CREATE TABLE consents (
    id             text PRIMARY KEY,
    citizen_id     text NOT NULL,
    agency_id      text NOT NULL,
    permit_id      text NOT NULL,
    permit_version integer NOT NULL,
    purpose        text NOT NULL,
    claims         text[] NOT NULL,
    given_at       timestamptz NOT NULL,
    withdrawn_at   timestamptz
);

-- At most one consent in force per citizen, permit and purpose; it also
-- serves Consent and ConsentsByCitizen, which read only consents in force.
CREATE UNIQUE INDEX consents_in_force ON consents (citizen_id, permit_id, purpose)
    WHERE withdrawn_at IS NULL;

-- The audit trail: a hash chain whose order the database keeps. Every append
-- locks the single row of audit_head, so appends from any number of replicas
-- take turns; the head survives pruning, which removes old entries only.
CREATE TABLE audit_entries (
    seq        bigint PRIMARY KEY,
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
    detail     text NOT NULL,
    prev_hash  text NOT NULL,
    hash       text NOT NULL
);

CREATE INDEX audit_entries_citizen_id ON audit_entries (citizen_id, seq) WHERE citizen_id <> '';
CREATE INDEX audit_entries_agency_id ON audit_entries (agency_id, seq) WHERE agency_id <> '';
CREATE INDEX audit_entries_client_id ON audit_entries (client_id, seq) WHERE client_id <> '';

CREATE TABLE audit_head (
    one  boolean PRIMARY KEY DEFAULT true CHECK (one),
    seq  bigint NOT NULL,
    hash text NOT NULL
);

INSERT INTO audit_head (seq, hash) VALUES (0, '');

CREATE TABLE audit_checkpoints (
    seq  bigint PRIMARY KEY,
    hash text NOT NULL,
    at   timestamptz NOT NULL,
    jws  text NOT NULL
);

-- The trail is append-only for the application, whatever its bugs: an entry
-- is never updated, and deleted only when a later checkpoint vouches for the
-- chain (PruneAudit). Someone who owns the tables can still disable this;
-- the hash chain and the signed checkpoints are what reveal that.
CREATE FUNCTION audit_entries_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND EXISTS (SELECT 1 FROM audit_checkpoints WHERE seq > OLD.seq) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit entries are append-only (% of seq %)', TG_OP, OLD.seq
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries
    FOR EACH ROW EXECUTE FUNCTION audit_entries_append_only();

CREATE FUNCTION audit_entries_no_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit entries are append-only (TRUNCATE)'
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_entries_no_truncate BEFORE TRUNCATE ON audit_entries
    FOR EACH STATEMENT EXECUTE FUNCTION audit_entries_no_truncate();
