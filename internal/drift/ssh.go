package drift

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// Target is a host to run on.
type Target struct {
	Name    string
	Address string
}

// Runner runs a command line on a host, stdin given. A non-zero exit is an *ExitError; any other
// error means the host could not be reached (or the session could not be opened).
type Runner interface {
	Run(ctx context.Context, t Target, cmd, stdin string) (stdout, stderr string, err error)
}

// ExitError is a command that ran and exited non-zero.
type ExitError struct {
	Code   int
	Stderr string
}

func (e *ExitError) Error() string {
	msg := lastLine(e.Stderr)
	if msg == "" {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return fmt.Sprintf("exit status %d: %s", e.Code, msg)
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// SSHConfig is how the program reaches the hosts (pm4ml:ssh and the SSH key secrets): the same
// user, port, key, bastion and pinned host keys as pulumi-command.
type SSHConfig struct {
	User string
	Port int // default 22
	// Key is the private key (PEM or OpenSSH format).
	Key []byte
	// HostKeys pins host keys by host name ("ssh-ed25519 AAAA..."); a host without one is
	// accepted on first use, as pulumi-command does.
	HostKeys map[string]string
	Bastion  *Bastion
	// Timeout bounds a connection (default 15 s).
	Timeout time.Duration
}

// Bastion is the jump host.
type Bastion struct {
	Host string
	User string // default SSHConfig.User
	Port int    // default 22
	Key  []byte // default SSHConfig.Key
	// HostKey optionally pins the bastion's host key.
	HostKey string
}

// SSHRunner runs commands over golang.org/x/crypto/ssh, one connection per host (through the
// bastion when there is one), one session per command.
type SSHRunner struct {
	cfg     SSHConfig
	signer  ssh.Signer
	bsigner ssh.Signer

	mu          sync.Mutex
	bastionOnce sync.Once
	bastion     *ssh.Client
	bastionErr  error
	clients     map[string]*conn
}

// conn is one host's connection, dialled once (hosts are dialled in parallel: a host that does
// not answer holds up only its own steps).
type conn struct {
	once   sync.Once
	client *ssh.Client
	err    error
}

// NewSSHRunner parses the keys.
func NewSSHRunner(cfg SSHConfig) (*SSHRunner, error) {
	if cfg.Port == 0 {
		cfg.Port = 22
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 15 * time.Second
	}
	signer, err := ssh.ParsePrivateKey(cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("pm4ml:sshPrivateKey: %w", err)
	}
	r := &SSHRunner{cfg: cfg, signer: signer, bsigner: signer, clients: map[string]*conn{}}
	if b := cfg.Bastion; b != nil && len(b.Key) > 0 {
		if r.bsigner, err = ssh.ParsePrivateKey(b.Key); err != nil {
			return nil, fmt.Errorf("pm4ml:bastionPrivateKey: %w", err)
		}
	}
	return r, nil
}

func hostKeyCallback(pinned, what string) (ssh.HostKeyCallback, error) {
	if pinned == "" {
		return ssh.InsecureIgnoreHostKey(), nil //nolint:gosec // accepted on first use, as pulumi-command does; pin with pm4ml:ssh.hostKeys
	}
	pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(pinned))
	if err != nil {
		return nil, fmt.Errorf("pm4ml:ssh.hostKeys of %s: %w", what, err)
	}
	return ssh.FixedHostKey(pk), nil
}

func (r *SSHRunner) client(ctx context.Context, t Target) (*ssh.Client, error) {
	r.mu.Lock()
	c, ok := r.clients[t.Name]
	if !ok {
		c = &conn{}
		r.clients[t.Name] = c
	}
	r.mu.Unlock()
	c.once.Do(func() { c.client, c.err = r.dial(ctx, t) })
	return c.client, c.err
}

func (r *SSHRunner) dial(ctx context.Context, t Target) (*ssh.Client, error) {
	cb, err := hostKeyCallback(r.cfg.HostKeys[t.Name], t.Name)
	if err != nil {
		return nil, err
	}
	conf := &ssh.ClientConfig{User: r.cfg.User, Auth: []ssh.AuthMethod{ssh.PublicKeys(r.signer)}, HostKeyCallback: cb, Timeout: r.cfg.Timeout}
	addr := net.JoinHostPort(t.Address, strconv.Itoa(r.cfg.Port))
	var conn net.Conn
	if b := r.cfg.Bastion; b != nil {
		r.bastionOnce.Do(func() { r.bastion, r.bastionErr = r.dialBastion(ctx) })
		if r.bastionErr != nil {
			return nil, r.bastionErr
		}
		if conn, err = r.bastion.Dial("tcp", addr); err != nil {
			return nil, fmt.Errorf("through the bastion %s: %w", b.Host, err)
		}
	} else {
		d := net.Dialer{Timeout: r.cfg.Timeout}
		if conn, err = d.DialContext(ctx, "tcp", addr); err != nil {
			return nil, err
		}
	}
	// the handshake is bounded too (a host that accepts and says nothing)
	_ = conn.SetDeadline(time.Now().Add(r.cfg.Timeout))
	cc, chans, reqs, err := ssh.NewClientConn(conn, addr, conf)
	if err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return ssh.NewClient(cc, chans, reqs), nil
}

func (r *SSHRunner) dialBastion(ctx context.Context) (*ssh.Client, error) {
	b := r.cfg.Bastion
	user, port := b.User, b.Port
	if user == "" {
		user = r.cfg.User
	}
	if port == 0 {
		port = 22
	}
	cb, err := hostKeyCallback(b.HostKey, "the bastion")
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort(b.Host, strconv.Itoa(port))
	d := net.Dialer{Timeout: r.cfg.Timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("bastion %s: %w", b.Host, err)
	}
	_ = conn.SetDeadline(time.Now().Add(r.cfg.Timeout))
	cc, chans, reqs, err := ssh.NewClientConn(conn, addr, &ssh.ClientConfig{User: user, Auth: []ssh.AuthMethod{ssh.PublicKeys(r.bsigner)}, HostKeyCallback: cb, Timeout: r.cfg.Timeout})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("bastion %s: %w", b.Host, err)
	}
	_ = conn.SetDeadline(time.Time{})
	return ssh.NewClient(cc, chans, reqs), nil
}

// Run opens a session on t's connection and runs cmd.
func (r *SSHRunner) Run(ctx context.Context, t Target, cmd, stdin string) (string, string, error) {
	c, err := r.client(ctx, t)
	if err != nil {
		return "", "", err
	}
	s, err := c.NewSession()
	if err != nil {
		return "", "", err
	}
	defer s.Close()
	var o, e bytes.Buffer
	s.Stdout, s.Stderr, s.Stdin = &o, &e, strings.NewReader(stdin)
	done := make(chan error, 1)
	go func() { done <- s.Run(cmd) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = s.Signal(ssh.SIGTERM)
		s.Close()
		return o.String(), e.String(), ctx.Err()
	}
	var xe *ssh.ExitError
	if errors.As(err, &xe) {
		return o.String(), e.String(), &ExitError{Code: xe.ExitStatus(), Stderr: e.String()}
	}
	return o.String(), e.String(), err
}

// Close closes every connection.
func (r *SSHRunner) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.clients {
		if c.client != nil {
			c.client.Close()
		}
	}
	if r.bastion != nil {
		r.bastion.Close()
	}
}
