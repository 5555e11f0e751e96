package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// TestRealVaultTLSChildTokenAndErrors runs against a `vault server -dev -dev-tls`: caCertFile
// and skipTlsVerify connect, an unknown CA does not; without skipChildToken the writes use a
// child token like upstream's (display name token-terraform, 1200 s, not renewable); a bad
// token fails with Vault's 403.
func TestRealVaultTLSChildTokenAndErrors(t *testing.T) {
	v := startVault(t, true)
	u := urn(kv2Type, "tls")
	news := resource.PropertyMap{"mount": str("secret"), "name": str("tls"), "dataJson": secretStr(`{"k":"v"}`)}

	h := newHarness(t, resource.PropertyMap{"address": str(v.Addr), "token": secretStr(v.Token), "caCertFile": str(v.CAFile)})
	if _, _, err := h.create(u, h.check(u, news), false); err != nil {
		t.Fatalf("with caCertFile and a child token: %v", err)
	}
	out := v.mustAPI(t, http.StatusOK, http.MethodGet, "secret/data/tls", nil)
	if data(data(out))["k"] != "v" {
		t.Errorf("Vault has %v", out)
	}
	if !hasChildToken(t, v) {
		t.Errorf("no child token with display name token-terraform, ttl 1200s, not renewable")
	}

	h = newHarness(t, resource.PropertyMap{"address": str(v.Addr), "token": secretStr(v.Token),
		"skipTlsVerify": resource.NewProperty(true), "skipChildToken": resource.NewProperty(true)})
	if _, _, err := h.create(u, h.check(u, news), false); err != nil {
		t.Errorf("with skipTlsVerify: %v", err)
	}

	h = newHarness(t, resource.PropertyMap{"address": str(v.Addr), "token": secretStr(v.Token)})
	if _, _, err := h.create(u, h.check(u, news), false); err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Errorf("without the CA: %v", err)
	}

	h = newHarness(t, resource.PropertyMap{"address": str(v.Addr), "token": secretStr("not-a-token"), "caCertFile": str(v.CAFile)})
	_, _, err := h.create(u, h.check(u, news), false)
	if err == nil || !strings.Contains(err.Error(), "failed to lookup token") || !strings.Contains(err.Error(), "Code: 403") ||
		!strings.Contains(err.Error(), "permission denied") {
		t.Errorf("bad token: %v", err)
	}
}

// hasChildToken looks for the provider's child token among the token accessors.
func hasChildToken(t *testing.T, v *devVault) bool {
	t.Helper()
	keys, _ := data(v.mustAPI(t, http.StatusOK, "LIST", "auth/token/accessors", nil))["keys"].([]any)
	for _, k := range keys {
		info := data(v.mustAPI(t, http.StatusOK, http.MethodPost, "auth/token/lookup-accessor", map[string]any{"accessor": k}))
		if info["display_name"] == "token-terraform" && info["creation_ttl"] == 1200.0 &&
			info["explicit_max_ttl"] == 1200.0 && info["renewable"] == false {
			return true
		}
	}
	return false
}
