-- DeleteExpired runs every --cleanup-interval in batches of a few hundred
-- rows; without these indexes each batch would scan the whole table for
-- the expired ones (sessions and grants grow with the citizens signed in).
CREATE INDEX grants_expires_at ON grants (expires_at);
CREATE INDEX sessions_idle_expires_at ON sessions (idle_expires_at);
CREATE INDEX sessions_expires_at ON sessions (expires_at);
CREATE INDEX replay_expires_at ON replay (expires_at);
