-- DeleteExpired's expired sessions, found by index rather than by a scan
-- of every session (the table grows with the citizens signed in).
CREATE INDEX sessions_idle_expires_at ON sessions (idle_expires_at);
CREATE INDEX sessions_expires_at ON sessions (expires_at);
