package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// execRecord is one command the test sshd ran.
type execRecord struct {
	User    string
	Command string
	Env     map[string]string
	Exit    int
}

// testSSHD is an in-process SSH server on 127.0.0.1: public-key (and optional password)
// authentication, `env` requests, `exec` through /bin/sh -c with stdin/stdout/stderr and the
// exit status, the sftp subsystem, and direct-tcpip forwarding to loopback only (so it can be
// the bastion of a proxy jump).
type testSSHD struct {
	t        *testing.T
	ln       net.Listener
	Addr     string
	Host     string
	Port     int
	HostKey  ssh.PublicKey
	password string

	mu       sync.Mutex
	execs    []execRecord
	forwards []string
	conns    int
	wg       sync.WaitGroup
}

// newKey returns a new ed25519 key as an ssh.Signer and its OpenSSH PEM private key.
func newKey(t *testing.T) (ssh.Signer, string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return signer, string(pem.EncodeToMemory(block))
}

// authorizedLine is the public key in authorized_keys format ("ssh-ed25519 AAAA...").
func authorizedLine(k ssh.PublicKey) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}

// startSSHD starts a server that accepts the given client key (and password, if not empty).
func startSSHD(t *testing.T, client ssh.PublicKey, password string) *testSSHD {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveSSHD(t, ln, client, password)
}

func serveSSHD(t *testing.T, ln net.Listener, client ssh.PublicKey, password string) *testSSHD {
	t.Helper()
	hostSigner, _ := newKey(t)
	s := &testSSHD{t: t, ln: ln, Addr: ln.Addr().String(), HostKey: hostSigner.PublicKey(), password: password}
	host, port, _ := net.SplitHostPort(s.Addr)
	s.Host = host
	s.Port, _ = strconv.Atoi(port)
	config := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
			if client != nil && string(k.Marshal()) == string(client.Marshal()) {
				return nil, nil
			}
			return nil, errors.New("unknown public key")
		},
	}
	if password != "" {
		config.PasswordCallback = func(_ ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			if string(pw) == password {
				return nil, nil
			}
			return nil, errors.New("wrong password")
		}
	}
	config.AddHostKey(hostSigner)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serveConn(c, config)
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		done := make(chan struct{})
		go func() { s.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("test sshd %s: connections still open 10s after the test", s.Addr)
		}
	})
	return s
}

func (s *testSSHD) Execs() []execRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]execRecord(nil), s.execs...)
}

func (s *testSSHD) Forwards() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.forwards...)
}

func (s *testSSHD) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

func (s *testSSHD) serveConn(c net.Conn, config *ssh.ServerConfig) {
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(2 * time.Minute))
	conn, chans, reqs, err := ssh.NewServerConn(c, config)
	if err != nil {
		return
	}
	defer func() { _ = conn.Close() }()
	s.mu.Lock()
	s.conns++
	s.mu.Unlock()
	go ssh.DiscardRequests(reqs)
	var wg sync.WaitGroup
	for nc := range chans {
		switch nc.ChannelType() {
		case "session":
			ch, reqs, err := nc.Accept()
			if err != nil {
				continue
			}
			wg.Add(1)
			go func() { defer wg.Done(); s.session(conn.User(), ch, reqs) }()
		case "direct-tcpip":
			wg.Add(1)
			go func() { defer wg.Done(); s.forward(nc) }()
		default:
			_ = nc.Reject(ssh.UnknownChannelType, "unsupported channel type")
		}
	}
	wg.Wait()
}

// forward opens a TCP connection for a direct-tcpip channel, to loopback addresses only.
func (s *testSSHD) forward(nc ssh.NewChannel) {
	var req struct {
		Host     string
		Port     uint32
		OrigHost string
		OrigPort uint32
	}
	if err := ssh.Unmarshal(nc.ExtraData(), &req); err != nil {
		_ = nc.Reject(ssh.ConnectionFailed, "bad direct-tcpip request")
		return
	}
	target := net.JoinHostPort(req.Host, strconv.Itoa(int(req.Port)))
	if ip := net.ParseIP(req.Host); ip == nil || !ip.IsLoopback() {
		_ = nc.Reject(ssh.Prohibited, "test sshd forwards to loopback addresses only")
		return
	}
	s.mu.Lock()
	s.forwards = append(s.forwards, target)
	s.mu.Unlock()
	tcp, err := net.DialTimeout("tcp", target, 5*time.Second)
	if err != nil {
		_ = nc.Reject(ssh.ConnectionFailed, err.Error())
		return
	}
	ch, reqs, err := nc.Accept()
	if err != nil {
		_ = tcp.Close()
		return
	}
	go ssh.DiscardRequests(reqs)
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(tcp, ch); _ = tcp.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	go func() { _, _ = io.Copy(ch, tcp); _ = ch.CloseWrite(); done <- struct{}{} }()
	<-done
	<-done
	_ = ch.Close()
	_ = tcp.Close()
}

func (s *testSSHD) session(user string, ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer func() { _ = ch.Close() }()
	env := map[string]string{}
	for req := range reqs {
		switch req.Type {
		case "env":
			var kv struct{ Name, Value string }
			if err := ssh.Unmarshal(req.Payload, &kv); err != nil {
				_ = req.Reply(false, nil)
				continue
			}
			env[kv.Name] = kv.Value
			_ = req.Reply(true, nil)
		case "exec":
			var cmd struct{ Command string }
			if err := ssh.Unmarshal(req.Payload, &cmd); err != nil {
				_ = req.Reply(false, nil)
				continue
			}
			_ = req.Reply(true, nil)
			code := s.exec(user, cmd.Command, env, ch)
			_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(code)}))
			return
		case "subsystem":
			var sub struct{ Name string }
			if err := ssh.Unmarshal(req.Payload, &sub); err != nil || sub.Name != "sftp" {
				_ = req.Reply(false, nil)
				continue
			}
			_ = req.Reply(true, nil)
			srv, err := sftp.NewServer(ch)
			if err != nil {
				return
			}
			_ = srv.Serve()
			_ = srv.Close()
			return
		default:
			_ = req.Reply(false, nil)
		}
	}
}

// exec runs command with /bin/sh -c: PATH and HOME from this process, plus the session's env.
func (s *testSSHD) exec(user, command string, env map[string]string, ch ssh.Channel) int {
	c := exec.Command("/bin/sh", "-c", command)
	c.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	recorded := map[string]string{}
	for k, v := range env {
		c.Env = append(c.Env, fmt.Sprintf("%s=%s", k, v))
		recorded[k] = v
	}
	c.Stdin = ch
	c.Stdout = ch
	c.Stderr = ch.Stderr()
	code := 0
	if err := c.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else {
			code = 127
		}
	}
	s.mu.Lock()
	s.execs = append(s.execs, execRecord{User: user, Command: command, Env: recorded, Exit: code})
	s.mu.Unlock()
	return code
}
