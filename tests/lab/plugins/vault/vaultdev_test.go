package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cacheRoot is where the project's tools live ($PM4ML_CACHE, default ~/.cache/pm4ml-onprem).
func cacheRoot(t *testing.T) string {
	t.Helper()
	if c := os.Getenv("PM4ML_CACHE"); c != "" {
		return c
	}
	home, err := os.UserHomeDir()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(home, ".cache", "pm4ml-onprem")
}

// devVault is a `vault server -dev` on 127.0.0.1 with a known root token.
type devVault struct {
	Addr   string // http(s)://127.0.0.1:port
	Token  string
	CAFile string // with TLS: the dev CA's certificate
	http   *http.Client
}

const devRootToken = "lab-root-token"

// vaultBinary is $PM4ML_CACHE/bin/vault; the test is skipped when it is missing.
func vaultBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(cacheRoot(t), "bin", "vault")
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("Vault not found at %s: run `bash scripts/tools.sh --lab` (PM4ML_CACHE sets the cache root): %v", bin, err)
	}
	return bin
}

// startVault starts a dev server (in-memory, unsealed, KV v2 at secret/) on a free loopback port,
// with -dev-tls when withTLS, and stops it by PID when the test ends. The server's own cluster
// port is the API port + 1, so a start that loses the race for it is retried on another port.
func startVault(t *testing.T, withTLS bool) *devVault {
	t.Helper()
	bin := vaultBinary(t)
	var lastErr error
	for range 3 {
		v, err := tryStartVault(t, bin, withTLS)
		if err == nil {
			return v
		}
		lastErr = err
	}
	t.Fatalf("vault server -dev did not start: %v", lastErr)
	return nil
}

func tryStartVault(t *testing.T, bin string, withTLS bool) (*devVault, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	_ = l.Close()

	dir := t.TempDir()
	args := []string{"server", "-dev", "-dev-root-token-id=" + devRootToken, "-dev-listen-address=" + addr, "-dev-no-store-token"}
	scheme := "http"
	if withTLS {
		args = append(args, "-dev-tls", "-dev-tls-cert-dir="+dir)
		scheme = "https"
	}
	var logs bytes.Buffer
	cmd := exec.Command(bin, args...)
	// Only what Vault needs: no VAULT_* settings of the developer, a private HOME.
	cmd.Env = []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH")}
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop := func() {
		_ = syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	}

	v := &devVault{Addr: scheme + "://" + addr, Token: devRootToken}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-exited:
			return nil, fmt.Errorf("vault exited:\n%s", logs.String())
		default:
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("vault not ready at %s after 30s:\n%s", v.Addr, logs.String())
		}
		if v.http == nil {
			v.http = vaultHTTPClient(dir, withTLS)
			if v.http == nil { // the dev CA is not written yet
				time.Sleep(100 * time.Millisecond)
				continue
			}
			if withTLS {
				v.CAFile = filepath.Join(dir, "vault-ca.pem")
			}
		}
		if resp, err := v.http.Get(v.Addr + "/v1/sys/health"); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Cleanup(stop)
	return v, nil
}

// vaultHTTPClient is a plain client, trusting the dev CA with TLS (nil until it exists).
func vaultHTTPClient(dir string, withTLS bool) *http.Client {
	tr := &http.Transport{Proxy: nil}
	if withTLS {
		pem, err := os.ReadFile(filepath.Join(dir, "vault-ca.pem"))
		if err != nil {
			return nil
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// api calls Vault directly with the root token and returns the status and decoded body.
func (v *devVault) api(t *testing.T, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, v.Addr+"/v1/"+strings.TrimLeft(path, "/"), rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Vault-Token", v.Token)
	resp, err := v.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, out
}

// mustAPI is api that fails the test unless the status is want.
func (v *devVault) mustAPI(t *testing.T, want int, method, path string, body any) map[string]any {
	t.Helper()
	status, out := v.api(t, method, path, body)
	if status != want {
		t.Fatalf("%s %s: status %d, want %d: %v", method, path, status, want, out)
	}
	return out
}

// mountKV1 enables a KV version 1 engine at path.
func (v *devVault) mountKV1(t *testing.T, path string) {
	t.Helper()
	v.mustAPI(t, http.StatusNoContent, http.MethodPost, "sys/mounts/"+path,
		map[string]any{"type": "kv", "options": map[string]string{"version": "1"}})
}

// data returns the "data" object of a read, nil if absent.
func data(out map[string]any) map[string]any {
	d, _ := out["data"].(map[string]any)
	return d
}
