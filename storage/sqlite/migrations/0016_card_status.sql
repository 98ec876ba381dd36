-- The status of the citizen's current ID card, as the registry states it:
-- 'active', 'cancelled' (voided: lost, stolen, replaced), or '' when the
-- extract does not say. A cancelled or expired card's laser code earns no
-- assurance at proofing.
ALTER TABLE citizens ADD COLUMN card_status TEXT NOT NULL DEFAULT ''
	CHECK (card_status IN ('', 'active', 'cancelled'));
