-- An administrator account made by another is an invitation until its
-- holder enrols: the hash of the one-time token ('' once enrolled) and when
-- it lapses (NULL once enrolled).

ALTER TABLE admins ADD COLUMN invite_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE admins ADD COLUMN invite_expires_at INTEGER;
CREATE UNIQUE INDEX admins_invite_hash ON admins (invite_hash) WHERE invite_hash <> '';
