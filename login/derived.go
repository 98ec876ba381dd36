package login

import (
	"fmt"

	"github.com/dopaid/dopaid/storage"
)

// claimWords says one claim in plain language in the page's language t: a
// derived claim (storage/derived.go) as the question it answers and the
// data it keeps back ("whether you are 20 or older — not your
// birthdate"), so that the citizen sees on the consent page and in their
// history that the agency receives an answer, not the data.
func claimWords(t map[string]string, c string) string {
	if n, ok := storage.AgeOver(c); ok {
		return fmt.Sprintf(t["claim_age_over"], n)
	}
	if s, ok := t["claim_"+c]; ok {
		return s
	}
	return c
}
