package drift

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/pm4ml/pm4ml-onprem/components/remotecmd"
)

func newKey(t *testing.T) (ssh.Signer, []byte) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s, pem.EncodeToMemory(block)
}

// sshd is an in-process SSH server on 127.0.0.1: public-key authentication, exec through
// /bin/sh -c (SSH_CONNECTION set as sshd sets it) with stdin and the exit status, and
// direct-tcpip to loopback only (a bastion).
type sshd struct {
	port     int
	hostKey  ssh.PublicKey
	mu       sync.Mutex
	forwards []string
	sessions int
}

func startSSHD(t *testing.T, client ssh.PublicKey) *sshd {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hostSigner, _ := newKey(t)
	s := &sshd{port: ln.Addr().(*net.TCPAddr).Port, hostKey: hostSigner.PublicKey()}
	conf := &ssh.ServerConfig{PublicKeyCallback: func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
		if string(k.Marshal()) == string(client.Marshal()) {
			return nil, nil
		}
		return nil, errors.New("unknown key")
	}}
	conf.AddHostKey(hostSigner)
	var wg sync.WaitGroup
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); s.serve(c, conf) }()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return s
}

func (s *sshd) serve(c net.Conn, conf *ssh.ServerConfig) {
	defer c.Close()
	conn, chans, reqs, err := ssh.NewServerConn(c, conf)
	if err != nil {
		return
	}
	defer conn.Close()
	go ssh.DiscardRequests(reqs)
	remote := conn.RemoteAddr().(*net.TCPAddr)
	for nc := range chans {
		switch nc.ChannelType() {
		case "session":
			ch, reqs, err := nc.Accept()
			if err != nil {
				continue
			}
			go s.session(ch, reqs, remote)
		case "direct-tcpip":
			go s.forward(nc)
		default:
			_ = nc.Reject(ssh.UnknownChannelType, "no")
		}
	}
}

func (s *sshd) forward(nc ssh.NewChannel) {
	var req struct {
		Host     string
		Port     uint32
		OrigHost string
		OrigPort uint32
	}
	if ssh.Unmarshal(nc.ExtraData(), &req) != nil || !net.ParseIP(req.Host).IsLoopback() {
		_ = nc.Reject(ssh.Prohibited, "loopback only")
		return
	}
	target := net.JoinHostPort(req.Host, strconv.Itoa(int(req.Port)))
	s.mu.Lock()
	s.forwards = append(s.forwards, target)
	s.mu.Unlock()
	tcp, err := net.Dial("tcp", target)
	if err != nil {
		_ = nc.Reject(ssh.ConnectionFailed, err.Error())
		return
	}
	ch, reqs, err := nc.Accept()
	if err != nil {
		tcp.Close()
		return
	}
	go ssh.DiscardRequests(reqs)
	go func() { _, _ = io.Copy(tcp, ch); tcp.(*net.TCPConn).CloseWrite() }()
	_, _ = io.Copy(ch, tcp)
	ch.Close()
	tcp.Close()
}

func (s *sshd) session(ch ssh.Channel, reqs <-chan *ssh.Request, remote *net.TCPAddr) {
	defer ch.Close()
	for req := range reqs {
		if req.Type != "exec" {
			_ = req.Reply(false, nil)
			continue
		}
		var cmd struct{ Command string }
		if ssh.Unmarshal(req.Payload, &cmd) != nil {
			_ = req.Reply(false, nil)
			continue
		}
		_ = req.Reply(true, nil)
		s.mu.Lock()
		s.sessions++
		s.mu.Unlock()
		c := exec.Command("/bin/sh", "-c", cmd.Command)
		c.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "SSH_CONNECTION=" + remote.IP.String() + " " + strconv.Itoa(remote.Port) + " 127.0.0.1 " + strconv.Itoa(s.port)}
		c.Stdin, c.Stdout, c.Stderr = ch, ch, ch.Stderr()
		code := 0
		if err := c.Run(); err != nil {
			code = 127
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			}
		}
		_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(code)}))
		return
	}
}

func TestSSHRunner(t *testing.T) {
	signer, key := newKey(t)
	host := startSSHD(t, signer.PublicKey())
	pinned := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(host.hostKey)))
	r, err := NewSSHRunner(SSHConfig{User: "root", Port: host.port, Key: key, HostKeys: map[string]string{"h1": pinned}, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	h1 := Target{Name: "h1", Address: "127.0.0.1"}

	// The check invocation as the program runs it: the client address and the mode reach the
	// script; stdin is delivered.
	body := remotecmd.Wrap("s", `say "client=$1 mode=$PM4ML_MODE stdin=$(cat)"`)
	out, _, err := r.Run(ctx, h1, remotecmd.CheckInvocation("root", "s", body), "hello")
	if err != nil {
		t.Fatal(err)
	}
	if out != "client=127.0.0.1 mode=check stdin=hello\npm4ml: s: in sync\n" {
		t.Errorf("check invocation: %q", out)
	}
	out, _, err = r.Run(ctx, h1, remotecmd.Invocation("root", "s", body), "")
	if err != nil || !strings.Contains(out, "mode=apply") || !strings.HasSuffix(out, "pm4ml: s: no change\n") {
		t.Errorf("apply invocation: %q %v", out, err)
	}

	// A script's failure is an ExitError with its stderr; the host stays reachable.
	_, _, err = r.Run(ctx, h1, remotecmd.CheckInvocation("root", "s", remotecmd.Wrap("s", `die "broken here"`)), "")
	var xe *ExitError
	if !errors.As(err, &xe) || xe.Code != 1 || !strings.Contains(xe.Error(), "pm4ml: s: error: broken here") {
		t.Errorf("failing script: %v", err)
	}

	// A wrong pinned host key is refused (not an ExitError: the host is not checked).
	other, _ := newKey(t)
	bad, _ := NewSSHRunner(SSHConfig{User: "root", Port: host.port, Key: key, HostKeys: map[string]string{"h1": strings.TrimSpace(string(ssh.MarshalAuthorizedKey(other.PublicKey())))}, Timeout: 5 * time.Second})
	_, _, err = bad.Run(ctx, h1, "true", "")
	if err == nil || errors.As(err, &xe) || !strings.Contains(err.Error(), "host key mismatch") {
		t.Errorf("wrong host key: %v", err)
	}

	// A host that does not answer: an error naming the connection.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	down, _ := NewSSHRunner(SSHConfig{User: "root", Port: closed, Key: key, Timeout: 2 * time.Second})
	if _, _, err = down.Run(ctx, Target{Name: "h5", Address: "127.0.0.1"}, "true", ""); err == nil || errors.As(err, &xe) {
		t.Errorf("host down: %v", err)
	}

	// Through a bastion: the session reaches the host over the bastion's direct-tcpip.
	bastion := startSSHD(t, signer.PublicKey())
	viaB, _ := NewSSHRunner(SSHConfig{User: "root", Port: host.port, Key: key, Timeout: 5 * time.Second,
		Bastion: &Bastion{Host: "127.0.0.1", Port: bastion.port, HostKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(bastion.hostKey)))}})
	defer viaB.Close()
	out, _, err = viaB.Run(ctx, Target{Name: "h2", Address: "127.0.0.1"}, "echo via", "")
	if err != nil || out != "via\n" {
		t.Fatalf("through the bastion: %q %v", out, err)
	}
	bastion.mu.Lock()
	defer bastion.mu.Unlock()
	if len(bastion.forwards) != 1 || bastion.forwards[0] != "127.0.0.1:"+strconv.Itoa(host.port) || bastion.sessions != 0 {
		t.Errorf("bastion forwards %v, sessions %d", bastion.forwards, bastion.sessions)
	}
}
