-- Citizens: the civil registry, authenticators, proofing evidence, login
-- flows and throttles; assurance levels on requests, grants and sessions;
-- failed auth requests. Conventions as in 0001. Registry dates (storage.BEDate)
-- are integers YYYYMMDD in the Buddhist Era with 0 for an unknown part, so
-- 25551200 is December 2555 and 0 is no date; a lifetime card is 99999999.
--
-- Every new column of an existing table has a default, so that replicas still
-- running the previous release keep inserting rows while this one rolls out.

ALTER TABLE auth_requests
    ADD COLUMN ial   text NOT NULL DEFAULT '',
    ADD COLUMN error text NOT NULL DEFAULT '';

ALTER TABLE grants ADD COLUMN ial text NOT NULL DEFAULT '';

ALTER TABLE sessions ADD COLUMN ial text NOT NULL DEFAULT '';

-- The registry. id is the internal subject identifier; pid, the national ID
-- number, is only the import's matching key and a lookup at sign-in.
CREATE TABLE citizens (
    id             text PRIMARY KEY,
    pid            text NOT NULL UNIQUE,
    title_th       text NOT NULL,
    first_th       text NOT NULL,
    middle_th      text NOT NULL,
    last_th        text NOT NULL,
    title_en       text NOT NULL,
    first_en       text NOT NULL,
    middle_en      text NOT NULL,
    last_en        text NOT NULL,
    birthdate      integer NOT NULL,
    sex            smallint NOT NULL,
    house_no       text NOT NULL,
    moo            text NOT NULL,
    trok           text NOT NULL,
    soi            text NOT NULL,
    road           text NOT NULL,
    subdistrict    text NOT NULL,
    district       text NOT NULL,
    province       text NOT NULL,
    postal_code    text NOT NULL,
    laser_code     bytea,
    laser_code_mac text NOT NULL,
    card_issued    integer NOT NULL,
    card_expires   integer NOT NULL,
    photo_ref      text NOT NULL,
    status         text NOT NULL,
    status_desc    text NOT NULL,
    status_as_of   integer NOT NULL,
    content_hash   text NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);

-- One authenticator per citizen and type: enrolling again replaces it in
-- place. No foreign key to citizens, as in 0001: the registry is replaced by
-- imports, not by cascades.
CREATE TABLE authenticators (
    id             text PRIMARY KEY,
    citizen_id     text NOT NULL,
    type           text NOT NULL,
    secret         bytea NOT NULL,
    recovery_codes text[] NOT NULL,
    created_at     timestamptz NOT NULL,
    last_used_at   timestamptz,
    UNIQUE (citizen_id, type)
);

-- A face result is a group of columns, all NULL when there is none
-- (face_vendor is NULL exactly then). Scores are double precision so that
-- whatever a vendor reports, NaN included, is kept as reported.
CREATE TABLE proofings (
    id                  text PRIMARY KEY,
    citizen_id          text NOT NULL,
    ial                 text NOT NULL,
    matched             text[] NOT NULL,
    face_vendor         text,
    face_model_version  text,
    face_score          double precision,
    face_threshold      double precision,
    face_match          boolean,
    face_liveness       text,
    face_liveness_score double precision,
    face_simulated      boolean,
    face_at             timestamptz,
    created_at          timestamptz NOT NULL
);

CREATE INDEX proofings_citizen_id ON proofings (citizen_id, created_at DESC, id DESC);

CREATE TABLE flows (
    id                  text PRIMARY KEY,
    auth_request_id     text NOT NULL,
    citizen_id          text NOT NULL,
    step                text NOT NULL,
    nonce               text NOT NULL,
    matched             text[] NOT NULL,
    face_vendor         text,
    face_model_version  text,
    face_score          double precision,
    face_threshold      double precision,
    face_match          boolean,
    face_liveness       text,
    face_liveness_score double precision,
    face_simulated      boolean,
    face_at             timestamptz,
    ial                 text NOT NULL,
    pending_secret      bytea,
    created_at          timestamptz NOT NULL,
    expires_at          timestamptz NOT NULL
);

-- A nonce binds an externally signed face result to one flow: a second flow
-- with the same nonce is refused rather than resolved by guessing.
CREATE UNIQUE INDEX flows_nonce ON flows (nonce) WHERE nonce <> '';
CREATE INDEX flows_expires_at ON flows (expires_at);

-- expires_at is the later of window_start + storage.ThrottleWindow and
-- locked_until, computed when the row is written, so that reads and
-- DeleteExpired agree on when a counter is over and can use an index.
CREATE TABLE throttles (
    key          text PRIMARY KEY,
    failures     integer NOT NULL,
    window_start timestamptz,
    locked_until timestamptz,
    expires_at   timestamptz NOT NULL
);

CREATE INDEX throttles_expires_at ON throttles (expires_at);
