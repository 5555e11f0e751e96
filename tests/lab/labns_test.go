// Lab helpers for a lab whose bridge lives in its own network namespace (PM4ML_LAB_NETNS): the
// SSH connection is dialled from inside that namespace, the rest is Run's.
package lab

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"
)

// DialIn opens a TCP connection to addr from inside network namespace ns ("" = this process's
// namespace). The socket is created on a locked OS thread switched into ns; that thread is never
// unlocked, so the Go runtime discards it when the goroutine ends.
func DialIn(ns, addr string, timeout time.Duration) (net.Conn, error) {
	if ns == "" {
		return net.DialTimeout("tcp", addr, timeout)
	}
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread leaves with the goroutine
		f, err := os.Open(filepath.Join("/run/netns", ns))
		if err != nil {
			ch <- result{nil, err}
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{nil, fmt.Errorf("setns %s: %w", ns, err)}
			return
		}
		c, err := net.DialTimeout("tcp", addr, timeout)
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}

// RunIn is Run for a lab host reached from inside network namespace ns ("" = Run).
func RunIn(ns string, h Host, cmdline, stdin string, timeout time.Duration) (string, string, error) {
	if ns == "" {
		return Run(h, cmdline, stdin, timeout)
	}
	key, err := os.ReadFile(filepath.Join(Dir(), "id_ed25519"))
	if err != nil {
		return "", "", err
	}
	signer, err := ssh.ParsePrivateKey(key)
	if err != nil {
		return "", "", err
	}
	addr := net.JoinHostPort(h.Address, "22")
	conn, err := DialIn(ns, addr, 5*time.Second)
	if err != nil {
		return "", "", err
	}
	cfg := &ssh.ClientConfig{
		User: "root", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), // lab hosts share the image's host keys
		Timeout:         5 * time.Second,
	}
	cc, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	if err != nil {
		conn.Close()
		return "", "", err
	}
	return runSession(ssh.NewClient(cc, chans, reqs), h.Name, cmdline, stdin, timeout)
}
