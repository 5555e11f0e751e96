package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// vaultClient speaks the Vault HTTP API the way github.com/hashicorp/vault/api does for
// terraform-provider-vault: X-Vault-Token, X-Vault-Namespace and X-Vault-Request headers, PUT for
// writes, a 404 on read or delete meaning "no secret", 2 retries on 5xx/412 and connection
// errors, and its "Error making API request" error text.
type vaultClient struct {
	addr      string // without the trailing slash
	token     string
	namespace string // the provider's namespace; a resource's namespace is relative to it
	http      *http.Client
	retries   int
	retryWait time.Duration
}

func newVaultClient(addr string, tlsCfg *tls.Config) *vaultClient {
	return &vaultClient{
		addr: strings.TrimRight(addr, "/"),
		http: &http.Client{
			Timeout: 60 * time.Second,
			Transport: &http.Transport{
				Proxy:               nil, // lab safety: never through a proxy from the environment
				DialContext:         (&net.Dialer{Timeout: 30 * time.Second}).DialContext,
				TLSClientConfig:     tlsCfg,
				TLSHandshakeTimeout: 10 * time.Second,
				ForceAttemptHTTP2:   true,
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		retries:   2,
		retryWait: time.Second,
	}
}

// tlsConfig builds the client TLS settings: a CA file or directory replaces the system roots.
func tlsConfig(caFile, caDir string, insecure bool, serverName string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure, ServerName: serverName} //nolint:gosec // skipTlsVerify is the user's choice
	switch {
	case caFile != "":
		pool := x509.NewCertPool()
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("Error loading CA File: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("Error loading CA File: Couldn't parse PEM in: %s", caFile)
		}
		cfg.RootCAs = pool
	case caDir != "":
		pool := x509.NewCertPool()
		err := filepath.Walk(caDir, func(p string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() {
				return err
			}
			pem, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if !pool.AppendCertsFromPEM(pem) {
				return fmt.Errorf("Couldn't parse PEM in: %s", p)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("Error loading CA Path: %w", err)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// secret is the part of Vault's response envelope the provider uses.
type secret struct {
	Data     map[string]any `json:"data"`
	Warnings []string       `json:"warnings"`
	Auth     *struct {
		ClientToken string   `json:"client_token"`
		Policies    []string `json:"policies"`
	} `json:"auth"`
}

// responseError is a non-2xx/3xx answer, formatted like the vault/api ResponseError.
type responseError struct {
	Method, URL, Namespace string
	Status                 int
	Errors                 []string
	Raw                    bool
}

func (e *responseError) Error() string {
	kind := "Errors"
	if e.Raw {
		kind = "Raw Message"
	}
	var b strings.Builder
	b.WriteString("Error making API request.\n\n")
	if e.Namespace != "" {
		fmt.Fprintf(&b, "Namespace: %s\n", e.Namespace)
	}
	fmt.Fprintf(&b, "URL: %s %s\nCode: %d. %s:\n\n", e.Method, e.URL, e.Status, kind)
	if e.Raw && len(e.Errors) == 1 {
		b.WriteString(e.Errors[0])
	} else {
		for _, m := range e.Errors {
			fmt.Fprintf(&b, "* %s", m)
		}
	}
	return b.String()
}

// fullNamespace joins the provider's namespace and a resource's (upstream GetNSClient).
func (c *vaultClient) fullNamespace(ns string) string {
	ns = strings.Trim(ns, "/")
	switch {
	case ns == "":
		return c.namespace
	case c.namespace == "":
		return ns
	default:
		return c.namespace + "/" + ns
	}
}

// do sends one API request (body nil for none) with retries and returns the status and body of
// the last answer; err is a *responseError for a status >= 400, or a transport error.
func (c *vaultClient) do(ctx context.Context, method, path, ns string, body any) (int, []byte, error) {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return 0, nil, err
		}
	}
	url := c.addr + "/v1/" + strings.TrimLeft(path, "/")
	ns = c.fullNamespace(ns)
	for attempt := 0; ; attempt++ {
		status, resp, err := c.once(ctx, method, url, ns, payload)
		if attempt >= c.retries || !retryable(status, err) {
			return status, resp, err
		}
		select {
		case <-ctx.Done():
			return status, resp, err
		case <-time.After(c.retryWait):
		}
	}
}

func (c *vaultClient) once(ctx context.Context, method, url, ns string, payload []byte) (int, []byte, error) {
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("X-Vault-Request", "true")
	if c.token != "" {
		req.Header.Set("X-Vault-Token", c.token)
	}
	if ns != "" {
		req.Header.Set("X-Vault-Namespace", ns)
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, err
	}
	if resp.StatusCode < 400 {
		return resp.StatusCode, body, nil
	}
	rerr := &responseError{Method: method, URL: url, Namespace: ns, Status: resp.StatusCode}
	var e struct {
		Errors []string `json:"errors"`
	}
	if json.Unmarshal(body, &e) == nil {
		rerr.Errors = e.Errors
	} else {
		rerr.Raw, rerr.Errors = true, []string{string(body)}
	}
	return resp.StatusCode, body, rerr
}

// retryable: 5xx (except 501), 412, and connection errors other than certificate failures.
func retryable(status int, err error) bool {
	if err == nil {
		return false
	}
	var re *responseError
	if errors.As(err, &re) {
		return status == http.StatusPreconditionFailed || (status >= 500 && status != http.StatusNotImplemented)
	}
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	if errors.As(err, &certErr) || errors.As(err, &unknownAuth) || errors.As(err, &hostErr) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return true
}

// parseSecret decodes a response body; numbers stay json.Number as in vault/api.
func parseSecret(body []byte) (*secret, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var s secret
	if err := dec.Decode(&s); err != nil {
		return nil, err
	}
	return &s, nil
}

// notFound handles a 404 as vault/api's Logical() does: a body with data or warnings is still a
// secret (a KV v2 version that was deleted), anything else means "nothing there".
func notFound(status int, body []byte) (*secret, bool) {
	if status != http.StatusNotFound {
		return nil, false
	}
	s, err := parseSecret(body)
	if err == nil && s != nil && (len(s.Data) > 0 || len(s.Warnings) > 0) {
		return s, true
	}
	return nil, true
}

// read is Logical().Read: nil, nil when there is no secret at path.
func (c *vaultClient) read(ctx context.Context, path, ns string) (*secret, error) {
	status, body, err := c.do(ctx, http.MethodGet, path, ns, nil)
	if s, ok := notFound(status, body); ok {
		return s, nil
	}
	if err != nil {
		return nil, err
	}
	return parseSecret(body)
}

// write is Logical().Write (PUT).
func (c *vaultClient) write(ctx context.Context, path, ns string, data any) (*secret, error) {
	status, body, err := c.do(ctx, http.MethodPut, path, ns, data)
	if err != nil {
		if s, ok := notFound(status, body); ok && s != nil {
			return s, nil
		}
		return nil, err
	}
	return parseSecret(body)
}

// delete is Logical().Delete: a 404 is not an error.
func (c *vaultClient) delete(ctx context.Context, path, ns string) error {
	status, body, err := c.do(ctx, http.MethodDelete, path, ns, nil)
	if _, ok := notFound(status, body); ok {
		return nil
	}
	return err
}

// createChildToken makes the short-lived, non-renewable child token upstream uses unless
// skipChildToken is set.
func (c *vaultClient) createChildToken(ctx context.Context, ns, name string, ttl int) (string, error) {
	s, err := c.write(ctx, "auth/token/create", ns, map[string]any{
		"display_name":     name,
		"ttl":              fmt.Sprintf("%ds", ttl),
		"explicit_max_ttl": fmt.Sprintf("%ds", ttl),
		"renewable":        false,
	})
	if err != nil {
		return "", fmt.Errorf("failed to create limited child token: %w", err)
	}
	if s == nil || s.Auth == nil || s.Auth.ClientToken == "" {
		return "", errors.New("failed to create limited child token: no token in the response")
	}
	return s.Auth.ClientToken, nil
}
