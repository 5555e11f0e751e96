package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/retry"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// Defaults of pulumi-command v1.2.1 (see Connection.Defaults in its Go SDK).
const (
	defaultUser           = "root"
	defaultPort           = 22
	defaultDialErrorLimit = 10
	defaultPerDialTimeout = 15
	unlimitedDialErrors   = -1
	sshAgentSocketEnvVar  = "SSH_AUTH_SOCK"
)

// ConnectionBase holds the fields shared by command:remote:Connection and
// command:remote:ProxyConnection.
type ConnectionBase struct {
	User               *string  `pulumi:"user,optional"`
	Password           *string  `pulumi:"password,optional" provider:"secret"`
	Host               *string  `pulumi:"host"`
	Port               *float64 `pulumi:"port,optional"`
	PrivateKey         *string  `pulumi:"privateKey,optional" provider:"secret"`
	PrivateKeyPassword *string  `pulumi:"privateKeyPassword,optional" provider:"secret"`
	AgentSocketPath    *string  `pulumi:"agentSocketPath,optional"`
	DialErrorLimit     *int     `pulumi:"dialErrorLimit,optional"`
	PerDialTimeout     *int     `pulumi:"perDialTimeout,optional"`
	HostKey            *string  `pulumi:"hostKey,optional"`
}

// Connection is command:remote:Connection.
type Connection struct {
	ConnectionBase
	Proxy *ProxyConnection `pulumi:"proxy,optional"`
}

// ProxyConnection is command:remote:ProxyConnection (the bastion host).
type ProxyConnection struct {
	ConnectionBase
}

func describeBase(a infer.Annotator, c *ConnectionBase, target string) {
	a.Describe(&c.User, "The user that we should use for the connection"+target+".")
	a.SetDefault(&c.User, defaultUser)
	a.Describe(&c.Password, "The password we should use for the connection"+target+".")
	a.Describe(&c.Port, "The port to connect to. Defaults to 22.")
	a.SetDefault(&c.Port, defaultPort)
	a.Describe(&c.PrivateKey, "The contents of an SSH key to use for the connection. "+
		"This takes preference over the password if provided.")
	a.Describe(&c.PrivateKeyPassword, "The password to use in case the private key is encrypted.")
	a.Describe(&c.AgentSocketPath, "SSH Agent socket path. Default to environment variable SSH_AUTH_SOCK if present.")
	a.Describe(&c.DialErrorLimit, "Max allowed errors on trying to dial the remote host. "+
		"-1 set count to unlimited. Default value is 10.")
	a.SetDefault(&c.DialErrorLimit, defaultDialErrorLimit)
	a.Describe(&c.PerDialTimeout, "Max number of seconds for each dial attempt. "+
		"0 implies no maximum. Default value is 15 seconds.")
	a.SetDefault(&c.PerDialTimeout, defaultPerDialTimeout)
	a.Describe(&c.HostKey, "The expected host key to verify the server's identity. "+
		"If not provided, the host key will be ignored.")
}

// Annotate describes command:remote:Connection.
func (c *Connection) Annotate(a infer.Annotator) {
	a.SetToken("remote", "Connection")
	a.Describe(&c, "Instructions for how to connect to a remote endpoint.")
	describeBase(a, &c.ConnectionBase, "")
	a.Describe(&c.Host, "The address of the resource to connect to.")
	a.Describe(&c.Proxy, "The connection settings for the bastion/proxy host.")
}

// Annotate describes command:remote:ProxyConnection.
func (c *ProxyConnection) Annotate(a infer.Annotator) {
	a.SetToken("remote", "ProxyConnection")
	a.Describe(&c, "Instructions for how to connect to a remote endpoint via a bastion host.")
	describeBase(a, &c.ConnectionBase, " to the bastion host")
	a.Describe(&c.Host, "The address of the bastion host to connect to.")
}

func (c *ConnectionBase) user() string {
	if c.User == nil {
		return defaultUser
	}
	return *c.User
}

func (c *ConnectionBase) address() string {
	port := float64(defaultPort)
	if c.Port != nil {
		port = *c.Port
	}
	host := ""
	if c.Host != nil {
		host = *c.Host
	}
	return net.JoinHostPort(host, strconv.Itoa(int(port)))
}

func (c *ConnectionBase) dialErrorLimit() int {
	if c.DialErrorLimit == nil {
		return defaultDialErrorLimit
	}
	return *c.DialErrorLimit
}

func (c *ConnectionBase) perDialTimeout() time.Duration {
	if c.PerDialTimeout == nil {
		return defaultPerDialTimeout * time.Second
	}
	return time.Duration(*c.PerDialTimeout) * time.Second
}

// hostKeyAlgorithms are the signature algorithms that can prove possession of a pinned key: an
// RSA key signs with rsa-sha2-512/256 (modern sshd refuses ssh-rsa/SHA-1) or ssh-rsa.
func hostKeyAlgorithms(k ssh.PublicKey) []string {
	if k.Type() == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{k.Type()}
}

// sshConfig builds the client configuration: private key (optionally encrypted), password (also
// answered to keyboard-interactive prompts), the SSH agent (agentSocketPath or $SSH_AUTH_SOCK),
// the host key pin and the per-dial timeout. The returned closer releases the agent connection.
func (c *ConnectionBase) sshConfig() (*ssh.ClientConfig, func(), error) {
	closer := func() {}
	config := &ssh.ClientConfig{
		User:            c.user(),
		HostKeyCallback: ssh.InsecureIgnoreHostKey(),
		Timeout:         c.perDialTimeout(),
	}
	if c.HostKey != nil && *c.HostKey != "" {
		key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(*c.HostKey))
		if err != nil {
			return nil, closer, fmt.Errorf("failed to parse host key %q: %w", *c.HostKey, err)
		}
		config.HostKeyCallback = ssh.FixedHostKey(key)
		config.HostKeyAlgorithms = hostKeyAlgorithms(key)
	}
	if c.PrivateKey != nil {
		var signer ssh.Signer
		var err error
		if c.PrivateKeyPassword != nil {
			signer, err = ssh.ParsePrivateKeyWithPassphrase([]byte(*c.PrivateKey), []byte(*c.PrivateKeyPassword))
		} else {
			signer, err = ssh.ParsePrivateKey([]byte(*c.PrivateKey))
		}
		if err != nil {
			return nil, closer, err
		}
		config.Auth = append(config.Auth, ssh.PublicKeys(signer))
	}
	if c.Password != nil {
		password := *c.Password
		config.Auth = append(config.Auth,
			ssh.Password(password),
			ssh.KeyboardInteractive(func(_, _ string, questions []string, _ []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for i := range answers {
					answers[i] = password
				}
				return answers, nil
			}))
	}
	socket := ""
	if c.AgentSocketPath != nil {
		socket = *c.AgentSocketPath
	} else if env := os.Getenv(sshAgentSocketEnvVar); env != "" {
		socket = env
	}
	if socket != "" {
		conn, err := net.Dial("unix", socket)
		if err != nil {
			return nil, closer, err
		}
		closer = func() { _ = conn.Close() }
		config.Auth = append(config.Auth, ssh.PublicKeysCallback(agent.NewClient(conn).Signers))
	}
	return config, closer, nil
}

// dialWithRetry calls dial until it succeeds or dialErrorLimit errors have occurred (-1: no
// limit), waiting between attempts with the SDK's retry back-off (as pulumi-command does).
func dialWithRetry(ctx context.Context, what string, dialErrorLimit int, dial func() (*ssh.Client, error)) (*ssh.Client, error) {
	var lastErr error
	failures := 0
	ok, data, err := retry.Until(ctx, retry.Acceptor{
		Accept: func(try int, _ time.Duration) (bool, any, error) {
			client, err := dial()
			if err == nil {
				return true, client, nil
			}
			lastErr = err
			failures++
			if dialErrorLimit > unlimitedDialErrors && failures > dialErrorLimit {
				return true, nil, err
			}
			limit := strconv.Itoa(dialErrorLimit)
			if dialErrorLimit <= unlimitedDialErrors {
				limit = "unlimited"
			}
			p.GetLogger(ctx).InfoStatusf("%s %d/%s failed: retrying", what, failures, limit)
			return false, nil, nil
		},
	})
	switch {
	case err != nil:
		return nil, fmt.Errorf("%s: after %d failed attempts: %w", what, failures, err)
	case !ok:
		if lastErr == nil {
			lastErr = ctx.Err()
		}
		return nil, fmt.Errorf("%s: cancelled after %d failed attempts: %w", what, failures, lastErr)
	}
	return data.(*ssh.Client), nil
}

// dialedClient is an SSH client to the target host, plus the bastion client it runs through.
type dialedClient struct {
	*ssh.Client
	closers []func()
}

// Close closes the target connection, then the bastion connection and agent connections.
func (d *dialedClient) Close() error {
	err := d.Client.Close()
	for i := len(d.closers) - 1; i >= 0; i-- {
		d.closers[i]()
	}
	return err
}

// Dial connects to the target host, through the proxy (bastion) host when one is set: the target
// connection is then a TCP channel opened by the bastion's sshd (like ssh -J). Each hop retries
// per its own dialErrorLimit and perDialTimeout and checks its own hostKey.
func (c *Connection) Dial(ctx context.Context) (*dialedClient, error) {
	if c == nil || c.Host == nil {
		return nil, errors.New("connection.host is required")
	}
	config, closeAgent, err := c.sshConfig()
	if err != nil {
		return nil, err
	}
	d := &dialedClient{closers: []func(){closeAgent}}
	fail := func(err error) (*dialedClient, error) {
		for i := len(d.closers) - 1; i >= 0; i-- {
			d.closers[i]()
		}
		return nil, err
	}
	target := c.address()
	if c.Proxy == nil {
		d.Client, err = dialWithRetry(ctx, "Dial", c.dialErrorLimit(), func() (*ssh.Client, error) {
			return ssh.Dial("tcp", target, config)
		})
		if err != nil {
			return fail(err)
		}
		return d, nil
	}

	proxyConfig, closeProxyAgent, err := c.Proxy.sshConfig()
	if err != nil {
		return fail(err)
	}
	d.closers = append(d.closers, closeProxyAgent)
	proxyAddr := c.Proxy.address()
	proxy, err := dialWithRetry(ctx, "Dial proxy", c.Proxy.dialErrorLimit(), func() (*ssh.Client, error) {
		return ssh.Dial("tcp", proxyAddr, proxyConfig)
	})
	if err != nil {
		return fail(err)
	}
	d.closers = append(d.closers, func() { _ = proxy.Close() })
	d.Client, err = dialWithRetry(ctx, "Dial host via proxy", c.dialErrorLimit(), func() (*ssh.Client, error) {
		dialCtx := ctx
		if t := c.perDialTimeout(); t > 0 {
			var cancel context.CancelFunc
			dialCtx, cancel = context.WithTimeout(ctx, t)
			defer cancel()
		}
		conn, err := proxy.DialContext(dialCtx, "tcp", target)
		if err != nil {
			return nil, err
		}
		cc, chans, reqs, err := ssh.NewClientConn(conn, target, config)
		if err != nil {
			_ = conn.Close()
			return nil, err
		}
		return ssh.NewClient(cc, chans, reqs), nil
	})
	if err != nil {
		return fail(err)
	}
	return d, nil
}
