-- Initial schema. Conventions: times are timestamptz written in UTC; a
-- column that may be unset (a token not yet used, a key not yet retired) is
-- nullable and NULL stands for Go's zero time; lists are text[]; raw JSON the
-- provider never queries is bytea; durations are bigint nanoseconds.
--
-- There are deliberately no foreign keys from tokens, requests or sessions to
-- clients: an auth request or a grant outlives neither its own expiry nor a
-- revocation, and deleting a client must not erase the evidence of what was
-- issued to it.

CREATE TABLE clients (
    id                        text PRIMARY KEY,
    name                      text NOT NULL,
    secret_hash               text NOT NULL,
    auth_method               text NOT NULL,
    jwks                      bytea,
    redirect_uris             text[] NOT NULL,
    post_logout_redirect_uris text[] NOT NULL,
    scopes                    text[] NOT NULL,
    signing_alg               text NOT NULL,
    permit_id                 text NOT NULL,
    network_ranges            text[] NOT NULL,
    access_token_ttl          bigint NOT NULL,
    refresh_token_ttl         bigint NOT NULL,
    disabled                  boolean NOT NULL,
    created_at                timestamptz NOT NULL,
    updated_at                timestamptz NOT NULL
);

CREATE TABLE auth_requests (
    id                    text PRIMARY KEY,
    client_id             text NOT NULL,
    redirect_uri          text NOT NULL,
    scopes                text[] NOT NULL,
    state                 text NOT NULL,
    nonce                 text NOT NULL,
    response_type         text NOT NULL,
    response_mode         text NOT NULL,
    code_challenge        text NOT NULL,
    code_challenge_method text NOT NULL,
    prompt                text[] NOT NULL,
    max_age               bigint,
    login_hint            text NOT NULL,
    ui_locales            text[] NOT NULL,
    acr_values            text[] NOT NULL,
    claims                bytea,
    purpose               text NOT NULL,
    browser_binding       text NOT NULL,
    grant_id              text NOT NULL,
    subject               text NOT NULL,
    auth_time             timestamptz,
    amr                   text[] NOT NULL,
    acr                   text NOT NULL,
    session_id            text NOT NULL,
    done                  boolean NOT NULL,
    code_hash             text UNIQUE,
    code_expires_at       timestamptz,
    code_used_at          timestamptz,
    created_at            timestamptz NOT NULL,
    expires_at            timestamptz NOT NULL
);

CREATE INDEX auth_requests_expires_at ON auth_requests (expires_at);

CREATE TABLE grants (
    id         text PRIMARY KEY,
    client_id  text NOT NULL,
    subject    text NOT NULL,
    scopes     text[] NOT NULL,
    auth_time  timestamptz NOT NULL,
    amr        text[] NOT NULL,
    acr        text NOT NULL,
    session_id text NOT NULL,
    claims     bytea,
    purpose    text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);

-- RevokeGrants filters by any of these; only live grants matter to it.
CREATE INDEX grants_client_id ON grants (client_id) WHERE revoked_at IS NULL;
CREATE INDEX grants_subject ON grants (subject) WHERE revoked_at IS NULL;
CREATE INDEX grants_session_id ON grants (session_id) WHERE revoked_at IS NULL;

CREATE TABLE access_tokens (
    id         text PRIMARY KEY,
    grant_id   text NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    revoked_at timestamptz
);

CREATE INDEX access_tokens_grant_id ON access_tokens (grant_id, expires_at);

CREATE TABLE refresh_tokens (
    id         text PRIMARY KEY,
    grant_id   text NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    used_at    timestamptz
);

CREATE INDEX refresh_tokens_grant_id ON refresh_tokens (grant_id, expires_at);

CREATE TABLE sessions (
    id              text PRIMARY KEY,
    subject         text NOT NULL,
    auth_time       timestamptz NOT NULL,
    amr             text[] NOT NULL,
    acr             text NOT NULL,
    idle_expires_at timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    created_at      timestamptz NOT NULL,
    last_seen_at    timestamptz NOT NULL,
    user_agent      text NOT NULL
);

CREATE INDEX sessions_subject ON sessions (subject, created_at DESC);

CREATE TABLE signing_keys (
    id           text PRIMARY KEY,
    algorithm    text NOT NULL,
    generation   bigint NOT NULL,
    private_key  bytea NOT NULL,
    public_key   bytea NOT NULL,
    created_at   timestamptz NOT NULL,
    activates_at timestamptz NOT NULL,
    retires_at   timestamptz,
    expires_at   timestamptz,
    UNIQUE (algorithm, generation)
);

CREATE TABLE replay (
    scope      text NOT NULL,
    value      text NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (scope, value)
);

CREATE INDEX replay_expires_at ON replay (expires_at);
