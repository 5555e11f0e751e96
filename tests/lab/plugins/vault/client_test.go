package main

import (
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// call is one request a fake Vault received.
type call struct {
	Method, Path, Token, Namespace, Request string
	Body                                    map[string]any
}

// fakeVault answers the few endpoints the provider uses and records every request. Handlers
// in answers (by "METHOD /path") override the defaults.
type fakeVault struct {
	*httptest.Server
	mu      sync.Mutex
	calls   []call
	answers map[string]func(w http.ResponseWriter)
	tokenNS string // namespace_path of the token
}

func newFakeVault(t *testing.T, tlsServer bool) *fakeVault {
	t.Helper()
	f := &fakeVault{answers: map[string]func(http.ResponseWriter){}}
	h := http.HandlerFunc(f.serve)
	if tlsServer {
		f.Server = httptest.NewTLSServer(h)
	} else {
		f.Server = httptest.NewServer(h)
	}
	t.Cleanup(f.Close)
	return f
}

func (f *fakeVault) serve(w http.ResponseWriter, r *http.Request) {
	c := call{Method: r.Method, Path: r.URL.Path, Token: r.Header.Get("X-Vault-Token"),
		Namespace: r.Header.Get("X-Vault-Namespace"), Request: r.Header.Get("X-Vault-Request")}
	if b, _ := io.ReadAll(r.Body); len(b) > 0 {
		_ = json.Unmarshal(b, &c.Body)
	}
	f.mu.Lock()
	f.calls = append(f.calls, c)
	answer := f.answers[r.Method+" "+r.URL.Path]
	f.mu.Unlock()
	if answer != nil {
		answer(w)
		return
	}
	switch {
	case r.URL.Path == "/v1/auth/token/lookup-self":
		writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"policies": []string{"root"}, "namespace_path": f.tokenNS}})
	case r.URL.Path == "/v1/auth/token/create":
		writeJSON(w, http.StatusOK, map[string]any{"auth": map[string]any{"client_token": "child-token", "policies": []string{"default"}}})
	case r.Method == http.MethodPut || r.Method == http.MethodDelete:
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"k": "v"}})
	default:
		http.Error(w, `{"errors":["unsupported"]}`, http.StatusMethodNotAllowed)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeVault) recorded() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

// kv1 creates a KV v1 secret through h and returns the error.
func kv1(h *harness, path, namespace string) error {
	news := resource.PropertyMap{"path": str(path), "dataJson": secretStr(`{"k":"v"}`)}
	if namespace != "" {
		news["namespace"] = str(namespace)
	}
	_, _, err := h.create(urn(kv1Type, "s"), h.check(urn(kv1Type, "s"), news), false)
	return err
}

// TestChildTokenHeadersAndNamespaces: by default (skipChildToken unset) the provider looks its
// token up, creates the limited child token upstream creates and uses it; every request carries
// X-Vault-Request, and the namespace header joins the provider's and the resource's namespaces.
func TestChildTokenHeadersAndNamespaces(t *testing.T) {
	f := newFakeVault(t, false)
	h := newHarness(t, resource.PropertyMap{"address": str(f.URL + "/"), "token": secretStr("parent-token"), "namespace": str("/team/")})
	if err := kv1(h, "kv1/x", "sub"); err != nil {
		t.Fatal(err)
	}
	calls := f.recorded()
	want := []string{"GET /v1/auth/token/lookup-self", "PUT /v1/auth/token/create", "PUT /v1/kv1/x", "GET /v1/kv1/x"}
	if len(calls) != len(want) {
		t.Fatalf("calls %+v, want %v", calls, want)
	}
	for i, c := range calls {
		if c.Method+" "+c.Path != want[i] || c.Request != "true" {
			t.Errorf("call %d: %+v, want %s with X-Vault-Request", i, c, want[i])
		}
	}
	if calls[0].Token != "parent-token" || calls[1].Token != "parent-token" || calls[0].Namespace != "" || calls[1].Namespace != "" {
		t.Errorf("lookup and child token: %+v %+v", calls[0], calls[1])
	}
	body := calls[1].Body
	if body["display_name"] != "terraform" || body["ttl"] != "1200s" || body["explicit_max_ttl"] != "1200s" || body["renewable"] != false {
		t.Errorf("child token request %v", body)
	}
	for _, c := range calls[2:] {
		if c.Token != "child-token" || c.Namespace != "team/sub" {
			t.Errorf("%s %s with token %q namespace %q, want the child token in team/sub", c.Method, c.Path, c.Token, c.Namespace)
		}
	}
	if calls[2].Body["k"] != "v" || len(calls[2].Body) != 1 {
		t.Errorf("KV v1 write body %v, want the document itself", calls[2].Body)
	}

	// The client is made once: a second resource only writes and reads.
	if err := kv1(h, "kv1/y", ""); err != nil {
		t.Fatal(err)
	}
	if calls := f.recorded()[4:]; len(calls) != 2 || calls[0].Namespace != "team" {
		t.Errorf("second resource: %+v", calls)
	}
}

// TestTokenAndAddressFromEnvironment: address and token from VAULT_ADDR and VAULT_TOKEN, then
// the token from ~/.vault-token; the token's namespace becomes the provider's; clear errors
// when either is missing.
func TestTokenAndAddressFromEnvironment(t *testing.T) {
	f := newFakeVault(t, false)
	f.tokenNS = "tenant/"
	h := newHarness(t, resource.PropertyMap{"tokenName": str("lab"), "maxLeaseTtlSeconds": resource.NewProperty(60.0)})
	t.Setenv("VAULT_ADDR", f.URL)
	t.Setenv("VAULT_TOKEN", "env-token")
	if err := kv1(h, "kv1/x", ""); err != nil {
		t.Fatal(err)
	}
	calls := f.recorded()
	if len(calls) < 3 || calls[0].Token != "env-token" || calls[1].Namespace != "tenant" ||
		calls[1].Body["display_name"] != "lab" || calls[1].Body["ttl"] != "60s" || calls[2].Namespace != "tenant" {
		t.Errorf("from the environment: %+v", calls)
	}

	h = newHarness(t, resource.PropertyMap{"address": str(f.URL), "skipChildToken": resource.NewProperty(true)})
	home, _ := os.UserHomeDir()
	if err := os.WriteFile(filepath.Join(home, ".vault-token"), []byte("file-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n := len(f.recorded())
	if err := kv1(h, "kv1/x", ""); err != nil {
		t.Fatal(err)
	}
	if calls := f.recorded()[n:]; len(calls) != 3 || calls[0].Token != "file-token" || calls[1].Token != "file-token" {
		t.Errorf("token from ~/.vault-token: %+v", calls)
	}

	h = newHarness(t, resource.PropertyMap{"address": str(f.URL)})
	if err := kv1(h, "kv1/x", ""); err == nil || !strings.Contains(err.Error(), "no vault token set on Client") {
		t.Errorf("without a token: %v", err)
	}
	h = newHarness(t, resource.PropertyMap{"token": secretStr("t")})
	if err := kv1(h, "kv1/x", ""); err == nil || !strings.Contains(err.Error(), "failed to configure Vault address") {
		t.Errorf("without an address: %v", err)
	}
}

// TestVaultErrorsQuoteStatusAndBody: failures carry the method, URL, HTTP status and Vault's
// errors (or its raw body), in vault/api's format; 5xx answers are retried twice.
func TestVaultErrorsQuoteStatusAndBody(t *testing.T) {
	f := newFakeVault(t, false)
	cfg := resource.PropertyMap{"address": str(f.URL), "token": secretStr("t"), "skipChildToken": resource.NewProperty(true)}

	f.answers["GET /v1/auth/token/lookup-self"] = func(w http.ResponseWriter) {
		writeJSON(w, http.StatusForbidden, map[string]any{"errors": []string{"permission denied", "invalid token"}})
	}
	err := kv1(newHarness(t, cfg), "kv1/x", "")
	if err == nil || !strings.Contains(err.Error(), "failed to lookup token, err=Error making API request.") ||
		!strings.Contains(err.Error(), "URL: GET "+f.URL+"/v1/auth/token/lookup-self") ||
		!strings.Contains(err.Error(), "Code: 403. Errors:") || !strings.Contains(err.Error(), "* permission denied* invalid token") {
		t.Errorf("refused token: %v", err)
	}
	delete(f.answers, "GET /v1/auth/token/lookup-self")

	f.answers["PUT /v1/kv1/denied"] = func(w http.ResponseWriter) {
		writeJSON(w, http.StatusForbidden, map[string]any{"errors": []string{"1 error occurred:\n\t* permission denied\n\n"}})
	}
	err = kv1(newHarness(t, cfg), "kv1/denied", "")
	if err == nil || !strings.Contains(err.Error(), `error writing secret data to "kv1/denied", err=Error making API request.`) ||
		!strings.Contains(err.Error(), "Code: 403. Errors:") || !strings.Contains(err.Error(), "* permission denied") {
		t.Errorf("denied write: %v", err)
	}

	f.answers["PUT /v1/kv1/proxy"] = func(w http.ResponseWriter) {
		w.WriteHeader(http.StatusBadGateway)
		_, _ = io.WriteString(w, "<html>bad gateway</html>")
	}
	n := len(f.recorded())
	err = kv1(newHarness(t, cfg), "kv1/proxy", "")
	if err == nil || !strings.Contains(err.Error(), "Code: 502. Raw Message:\n\n<html>bad gateway</html>") {
		t.Errorf("502 with an HTML body: %v", err)
	}
	writes := 0
	for _, c := range f.recorded()[n:] {
		if c.Path == "/v1/kv1/proxy" {
			writes++
		}
	}
	if writes != 3 {
		t.Errorf("a 502 was sent %d times, want 3 (2 retries)", writes)
	}
}

// TestTLSSettings: caCertFile and caCertDir replace the system roots, skipTlsVerify accepts any
// certificate, and without either an unknown CA fails (without retries).
func TestTLSSettings(t *testing.T) {
	f := newFakeVault(t, true)
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := func(extra resource.PropertyMap) resource.PropertyMap {
		m := resource.PropertyMap{"address": str(f.URL), "token": secretStr("t"), "skipChildToken": resource.NewProperty(true)}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	for name, extra := range map[string]resource.PropertyMap{
		"caCertFile":    {"caCertFile": str(caFile)},
		"caCertDir":     {"caCertDir": str(dir)},
		"skipTlsVerify": {"skipTlsVerify": resource.NewProperty(true)},
	} {
		if err := kv1(newHarness(t, cfg(extra)), "kv1/x", ""); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	n := len(f.recorded())
	if err := kv1(newHarness(t, cfg(nil)), "kv1/x", ""); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("unknown CA: %v", err)
	}
	if got := len(f.recorded()); got != n {
		t.Errorf("unknown CA: %d requests got through", got-n)
	}
	if err := kv1(newHarness(t, cfg(resource.PropertyMap{"caCertFile": str(filepath.Join(dir, "missing.pem"))})), "kv1/x", ""); err == nil ||
		!strings.Contains(err.Error(), "failed to configure TLS for Vault API: Error loading CA File") {
		t.Errorf("missing CA file: %v", err)
	}
}
