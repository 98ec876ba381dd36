-- Times are integer Unix milliseconds (UTC); NULL is the zero time.
-- Slices are JSON text ("null" for a nil slice). Durations are nanoseconds.

CREATE TABLE clients (
	id                        TEXT PRIMARY KEY,
	name                      TEXT NOT NULL,
	secret_hash               TEXT NOT NULL,
	auth_method               TEXT NOT NULL,
	jwks                      BLOB,
	redirect_uris             TEXT NOT NULL,
	post_logout_redirect_uris TEXT NOT NULL,
	scopes                    TEXT NOT NULL,
	signing_alg               TEXT NOT NULL,
	permit_id                 TEXT NOT NULL,
	network_ranges            TEXT NOT NULL,
	access_token_ttl          INTEGER NOT NULL,
	refresh_token_ttl         INTEGER NOT NULL,
	disabled                  INTEGER NOT NULL,
	created_at                INTEGER,
	updated_at                INTEGER
) STRICT;

CREATE TABLE auth_requests (
	id                    TEXT PRIMARY KEY,
	client_id             TEXT NOT NULL,
	redirect_uri          TEXT NOT NULL,
	scopes                TEXT NOT NULL,
	state                 TEXT NOT NULL,
	nonce                 TEXT NOT NULL,
	response_type         TEXT NOT NULL,
	response_mode         TEXT NOT NULL,
	code_challenge        TEXT NOT NULL,
	code_challenge_method TEXT NOT NULL,
	prompt                TEXT NOT NULL,
	max_age               INTEGER, -- NULL: the request carried no max_age
	login_hint            TEXT NOT NULL,
	ui_locales            TEXT NOT NULL,
	acr_values            TEXT NOT NULL,
	claims                BLOB,
	purpose               TEXT NOT NULL,
	browser_binding       TEXT NOT NULL,
	grant_id              TEXT NOT NULL,
	subject               TEXT NOT NULL DEFAULT '',
	auth_time             INTEGER,
	amr                   TEXT NOT NULL DEFAULT 'null',
	acr                   TEXT NOT NULL DEFAULT '',
	session_id            TEXT NOT NULL DEFAULT '',
	done                  INTEGER NOT NULL DEFAULT 0,
	code_hash             TEXT UNIQUE, -- NULL until a code is issued
	code_expires_at       INTEGER,
	code_used_at          INTEGER,
	created_at            INTEGER,
	expires_at            INTEGER
) STRICT;

CREATE INDEX auth_requests_expires_at ON auth_requests (expires_at);

CREATE TABLE grants (
	id         TEXT PRIMARY KEY,
	client_id  TEXT NOT NULL,
	subject    TEXT NOT NULL,
	scopes     TEXT NOT NULL,
	auth_time  INTEGER,
	amr        TEXT NOT NULL,
	acr        TEXT NOT NULL,
	session_id TEXT NOT NULL,
	claims     BLOB,
	purpose    TEXT NOT NULL,
	created_at INTEGER,
	expires_at INTEGER, -- NULL: no bound
	revoked_at INTEGER
) STRICT;

CREATE INDEX grants_client_id ON grants (client_id);
CREATE INDEX grants_subject ON grants (subject);
CREATE INDEX grants_session_id ON grants (session_id);

CREATE TABLE access_tokens (
	id         TEXT PRIMARY KEY,
	grant_id   TEXT NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
	expires_at INTEGER,
	created_at INTEGER,
	revoked_at INTEGER
) STRICT;

CREATE INDEX access_tokens_grant_id ON access_tokens (grant_id);
CREATE INDEX access_tokens_expires_at ON access_tokens (expires_at);

CREATE TABLE refresh_tokens (
	id         TEXT PRIMARY KEY,
	grant_id   TEXT NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
	expires_at INTEGER,
	created_at INTEGER,
	used_at    INTEGER
) STRICT;

CREATE INDEX refresh_tokens_grant_id ON refresh_tokens (grant_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

CREATE TABLE sessions (
	id              TEXT PRIMARY KEY,
	subject         TEXT NOT NULL,
	auth_time       INTEGER,
	amr             TEXT NOT NULL,
	acr             TEXT NOT NULL,
	idle_expires_at INTEGER,
	expires_at      INTEGER,
	created_at      INTEGER,
	last_seen_at    INTEGER,
	user_agent      TEXT NOT NULL
) STRICT;

CREATE INDEX sessions_subject ON sessions (subject, created_at);

CREATE TABLE signing_keys (
	id           TEXT PRIMARY KEY,
	algorithm    TEXT NOT NULL,
	generation   INTEGER NOT NULL,
	private_key  BLOB,
	public_key   BLOB,
	created_at   INTEGER,
	activates_at INTEGER,
	retires_at   INTEGER,
	expires_at   INTEGER, -- NULL: not retired
	UNIQUE (algorithm, generation)
) STRICT;

CREATE TABLE replay (
	scope      TEXT NOT NULL,
	value      TEXT NOT NULL,
	expires_at INTEGER,
	PRIMARY KEY (scope, value)
) STRICT, WITHOUT ROWID;
