package login_test

import (
	"strings"
	"testing"

	"github.com/dopaid/dopaid/login"
	"github.com/dopaid/dopaid/storage"
)

// The store the server runs on has every method the login pages need —
// the permit, the consents and the audit trail among them: the compiler
// checks it, so no rule the law requires can be switched off at run time
// by a store that lacks one.
var _ login.Store = storage.Store(nil)

// TestNewRefusesMissingCollaborators: the pages do not start without a
// store (which holds the permits, consents and audit trail) or the keys.
func TestNewRefusesMissingCollaborators(t *testing.T) {
	_, err := login.New(login.Config{})
	if err == nil {
		t.Fatal("New accepted an empty configuration")
	}
	for _, want := range []string{"store is required", "callback is required", "envelope is required", "keys of 32 bytes"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}
