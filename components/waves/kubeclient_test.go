package waves

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeAPI serves Applications from a map (name -> sequence of statuses, the last one repeats),
// over TLS with a client certificate required, or a bearer token.
type fakeAPI struct {
	mu       sync.Mutex
	statuses map[string][]string
	specPath map[string]string // optional spec.source.path per app (repo and revision of want)
	gets     map[string]int
	token    string
	onGet    func(name string, n int) // optional: called on the n-th GET of name (from 1)
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.token != "" && r.Header.Get("Authorization") != "Bearer "+f.token {
		http.Error(w, `{"kind":"Status","message":"Unauthorized"}`, http.StatusUnauthorized)
		return
	}
	const prefix = "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/"
	name, ok := strings.CutPrefix(r.URL.Path, prefix)
	if !ok || r.Method != http.MethodGet {
		http.Error(w, "unexpected request "+r.Method+" "+r.URL.Path, http.StatusBadRequest)
		return
	}
	f.gets[name]++
	if f.onGet != nil {
		f.onGet(name, f.gets[name])
	}
	seq, ok := f.statuses[name]
	if !ok {
		http.Error(w, `{"kind":"Status","reason":"NotFound"}`, http.StatusNotFound)
		return
	}
	st := seq[min(f.gets[name]-1, len(seq)-1)]
	if st == "404" {
		http.Error(w, `{"kind":"Status","reason":"NotFound"}`, http.StatusNotFound)
		return
	}
	var status map[string]any
	_ = json.Unmarshal([]byte(st), &status)
	obj := map[string]any{"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
		"metadata": map[string]any{"name": name, "namespace": "argocd"}, "status": status}
	if p, ok := f.specPath[name]; ok {
		obj["spec"] = map[string]any{"source": map[string]any{"repoURL": want.RepoURL, "path": p, "targetRevision": want.Revision}}
	}
	_ = json.NewEncoder(w).Encode(obj)
}

// serve starts the fake API server; it returns its kubeconfig (CA pinned, token auth).
func serve(t *testing.T, f *fakeAPI) string {
	t.Helper()
	f.gets = map[string]int{}
	f.token = "s3cret-token"
	srv := httptest.NewTLSServer(f)
	t.Cleanup(srv.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	return fmt.Sprintf(`apiVersion: v1
kind: Config
current-context: lab
clusters:
- name: c
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: u
  user:
    token: %s
contexts:
- name: other
  context: {cluster: nope, user: nope}
- name: lab
  context: {cluster: c, user: u}
`, srv.URL, base64.StdEncoding.EncodeToString(ca), f.token)
}

func TestKubeClient(t *testing.T) {
	f := &fakeAPI{statuses: map[string][]string{"vault": {stHealthy}}}
	kc := serve(t, f)
	cl, err := NewKubeClient(kc)
	if err != nil {
		t.Fatal(err)
	}
	obj, found, err := cl.Application(context.Background(), "argocd", "vault")
	if err != nil || !found || !Assess(obj, want).Ready {
		t.Fatalf("Application(vault) = %v %v %v", obj, found, err)
	}
	if _, found, err := cl.Application(context.Background(), "argocd", "nope"); err != nil || found {
		t.Errorf("Application(nope) found=%v err=%v, want a clean not-found", found, err)
	}
	// a path to the kubeconfig works too (the provider accepts both)
	p := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(p, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	if cl, err := NewKubeClient(p); err != nil {
		t.Error(err)
	} else if _, found, err := cl.Application(context.Background(), "argocd", "vault"); err != nil || !found {
		t.Errorf("from a path: %v %v", found, err)
	}
	// a wrong token is an error that says so (not a not-found)
	bad, err := NewKubeClient(strings.Replace(kc, "token: s3cret-token", "token: wrong", 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := bad.Application(context.Background(), "argocd", "vault"); err == nil || !strings.Contains(err.Error(), "HTTP 401") {
		t.Errorf("wrong token: %v", err)
	}
	// the server's certificate is verified against the kubeconfig's CA only
	ca := strings.SplitN(strings.SplitN(kc, "certificate-authority-data: ", 2)[1], "\n", 2)[0]
	mism := strings.Replace(kc, ca, base64.StdEncoding.EncodeToString(otherCA(t)), 1)
	if cl2, err := NewKubeClient(mism); err != nil {
		t.Fatal(err)
	} else if _, _, err := cl2.Application(context.Background(), "argocd", "vault"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("a server with another CA was accepted: %v", err)
	}
	for name, bad := range map[string]string{
		"not yaml":       "{{{",
		"no context":     strings.Replace(kc, "current-context: lab", "current-context: gone", 1),
		"no cluster":     strings.Replace(kc, "- name: c\n", "- name: x\n", 1),
		"bad CA":         strings.Replace(kc, "certificate-authority-data: ", "certificate-authority-data: AAAA", 1),
		"bad client key": strings.Replace(kc, "    token: ", "    client-certificate-data: "+base64.StdEncoding.EncodeToString([]byte("x"))+"\n    token: ", 1),
	} {
		if _, err := NewKubeClient(bad); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestKubeClientCertificateAuth(t *testing.T) {
	f := &fakeAPI{statuses: map[string][]string{"vault": {stHealthy}}, gets: map[string]int{}}
	srv := httptest.NewUnstartedServer(f)
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
	srv.StartTLS()
	defer srv.Close()
	// the server's own certificate and key serve as the client's (any client cert is required)
	cert := srv.TLS.Certificates[0]
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})
	der, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	b64 := base64.StdEncoding.EncodeToString
	kc := fmt.Sprintf("clusters:\n- name: c\n  cluster:\n    server: %s\n    certificate-authority-data: %s\nusers:\n- name: u\n  user:\n    client-certificate-data: %s\n    client-key-data: %s\ncontexts:\n- name: only\n  context: {cluster: c, user: u}\n",
		srv.URL, b64(certPEM), b64(certPEM), b64(keyPEM))
	cl, err := NewKubeClient(kc) // no current-context: the only context
	if err != nil {
		t.Fatal(err)
	}
	if _, found, err := cl.Application(context.Background(), "argocd", "vault"); err != nil || !found {
		t.Fatalf("with a client certificate: %v %v", found, err)
	}
	noCert, _ := NewKubeClient(strings.Split(kc, "users:")[0] + "contexts:\n- name: only\n  context: {cluster: c, user: u}\n")
	if _, _, err := noCert.Application(context.Background(), "argocd", "vault"); err == nil {
		t.Error("the server that requires a client certificate accepted none")
	}
}

// otherCA is a self-signed CA certificate (PEM) unrelated to httptest's.
func otherCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "other-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
