package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/pulumi/pulumi-go-provider/infer"
)

// Config is the provider configuration (pulumi:providers:vault): the part of the v6.7.0
// configuration the stand-in implements. Every field is optional in the schema because, as in
// the real provider, address and token may come from the environment.
type Config struct {
	Address            *string `pulumi:"address,optional"`
	Token              *string `pulumi:"token,optional" provider:"secret"`
	TokenName          *string `pulumi:"tokenName,optional"`
	SkipChildToken     *bool   `pulumi:"skipChildToken,optional"`
	MaxLeaseTTLSeconds *int    `pulumi:"maxLeaseTtlSeconds,optional"`
	SkipTLSVerify      *bool   `pulumi:"skipTlsVerify,optional"`
	CACertFile         *string `pulumi:"caCertFile,optional"`
	CACertDir          *string `pulumi:"caCertDir,optional"`
	TLSServerName      *string `pulumi:"tlsServerName,optional"`
	Namespace          *string `pulumi:"namespace,optional"`

	conn *connection // set by Configure; the client is made on first use, as upstream
}

// connection holds the authenticated client once it has been made.
type connection struct {
	mu     sync.Mutex
	client *vaultClient
}

var _ infer.CustomConfigure = (*Config)(nil)

// Annotate describes the configuration.
func (c *Config) Annotate(a infer.Annotator) {
	a.Describe(&c.Address, "URL of the root of the target Vault server. Defaults to $VAULT_ADDR.")
	a.Describe(&c.Token, "Token to use to authenticate to Vault. Defaults to $VAULT_TOKEN, then ~/.vault-token.")
	a.Describe(&c.TokenName, "Token name to use for creating the Vault child token (default terraform, $VAULT_TOKEN_NAME).")
	a.Describe(&c.SkipChildToken, "Set this to true to prevent the creation of ephemeral child token used by this provider "+
		"($TERRAFORM_VAULT_SKIP_CHILD_TOKEN).")
	a.Describe(&c.MaxLeaseTTLSeconds, "Maximum TTL for secret leases requested by this provider "+
		"(the child token's TTL; default 1200, $TERRAFORM_VAULT_MAX_TTL).")
	a.Describe(&c.SkipTLSVerify, "Set this to true only if the target Vault server is an insecure development instance "+
		"($VAULT_SKIP_VERIFY).")
	a.Describe(&c.CACertFile, "Path to a CA certificate file to validate the server's certificate ($VAULT_CACERT).")
	a.Describe(&c.CACertDir, "Path to directory containing CA certificate files to validate the server's certificate ($VAULT_CAPATH).")
	a.Describe(&c.TLSServerName, "Name to use as the SNI host when connecting via TLS ($VAULT_TLS_SERVER_NAME).")
	a.Describe(&c.Namespace, "The namespace to use. Available only for Vault Enterprise ($VAULT_NAMESPACE).")
}

// Configure only records the settings: like terraform-provider-vault, nothing contacts Vault
// until a resource needs the client.
func (c *Config) Configure(context.Context) error {
	c.conn = &connection{}
	return nil
}

// client returns the authenticated client, making it on first use (address, TLS, token, token
// lookup, child token). A failure is not remembered: the next operation tries again.
func (c *Config) client(ctx context.Context) (*vaultClient, error) {
	if c.conn == nil {
		c.conn = &connection{}
	}
	c.conn.mu.Lock()
	defer c.conn.mu.Unlock()
	if c.conn.client != nil {
		return c.conn.client, nil
	}
	cl, err := c.newClient(ctx)
	if err != nil {
		return nil, err
	}
	c.conn.client = cl
	return cl, nil
}

func (c *Config) newClient(ctx context.Context) (*vaultClient, error) {
	addr := strOr(c.Address, "VAULT_ADDR", "")
	if addr == "" {
		return nil, errors.New("failed to configure Vault address")
	}
	tlsCfg, err := tlsConfig(
		strOr(c.CACertFile, "VAULT_CACERT", ""),
		strOr(c.CACertDir, "VAULT_CAPATH", ""),
		boolOr(c.SkipTLSVerify, "VAULT_SKIP_VERIFY", false),
		strOr(c.TLSServerName, "VAULT_TLS_SERVER_NAME", ""),
	)
	if err != nil {
		return nil, fmt.Errorf("failed to configure TLS for Vault API: %w", err)
	}
	cl := newVaultClient(addr, tlsCfg)

	token, err := c.token()
	if err != nil {
		return nil, err
	}
	if token == "" {
		return nil, errors.New("no vault token set on Client")
	}
	cl.token = token

	info, err := cl.read(ctx, "auth/token/lookup-self", "")
	if err != nil {
		return nil, fmt.Errorf("failed to lookup token, err=%w", err)
	}
	if info == nil {
		return nil, errors.New("no token information returned from self lookup")
	}
	tokenNamespace, _ := info.Data["namespace_path"].(string)
	tokenNamespace = strings.Trim(tokenNamespace, "/")

	if !boolOr(c.SkipChildToken, "TERRAFORM_VAULT_SKIP_CHILD_TOKEN", false) {
		child, err := cl.createChildToken(ctx, tokenNamespace,
			strOr(c.TokenName, "VAULT_TOKEN_NAME", "terraform"),
			intOr(c.MaxLeaseTTLSeconds, "TERRAFORM_VAULT_MAX_TTL", 1200))
		if err != nil {
			return nil, err
		}
		cl.token = child
	}

	ns := strings.Trim(strOr(c.Namespace, "VAULT_NAMESPACE", ""), "/")
	if ns == "" {
		ns = tokenNamespace // upstream's set_namespace_from_token (default true)
	}
	cl.namespace = ns
	return cl, nil
}

// token is the configured token, else $VAULT_TOKEN, else the token helper's file ~/.vault-token.
func (c *Config) token() (string, error) {
	if c.Token != nil && *c.Token != "" {
		return *c.Token, nil
	}
	if t := os.Getenv("VAULT_TOKEN"); t != "" {
		return t, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", nil
	}
	b, err := os.ReadFile(filepath.Join(home, ".vault-token"))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("error getting token: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// strOr returns the configured value if non-empty, else the environment variable, else def
// (upstream's GetResourceDataStr).
func strOr(v *string, env, def string) string {
	if v != nil && *v != "" {
		return *v
	}
	if s := os.Getenv(env); env != "" && s != "" {
		return s
	}
	return def
}

// boolOr returns the configured value if set, else the parsed environment variable, else def.
func boolOr(v *bool, env string, def bool) bool {
	if v != nil {
		return *v
	}
	if b, err := strconv.ParseBool(os.Getenv(env)); err == nil {
		return b
	}
	return def
}

// intOr returns the configured value if non-zero, else the parsed environment variable, else def.
func intOr(v *int, env string, def int) int {
	if v != nil && *v != 0 {
		return *v
	}
	if n, err := strconv.Atoi(os.Getenv(env)); err == nil {
		return n
	}
	return def
}
