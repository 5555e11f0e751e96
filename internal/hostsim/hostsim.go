// Package hostsim runs rendered host scripts (hostprep, haproxy) for tests in a sandbox that
// looks enough like a host: a fresh network namespace (only loopback, no route: nothing leaves
// it; nft, ip and the sysctls of net.* act on it), a private mount namespace whose /etc is an
// overlay (writes land in the test's directory) and whose /sys/module is a directory of the test,
// and doubles of the commands that would change the machine (systemctl, sysctl, hostname,
// hostnamectl, dpkg-query, apt-get, modprobe, swapon/swapoff, chronyc, journalctl: bin/). Real
// nft, haproxy, keepalived, ip, getent and coreutils run. Root only: the tests skip otherwise.
package hostsim

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Box is one sandboxed host; a Session runs a driver script in it.
type Box struct {
	t   *testing.T
	Dir string
}

// New makes the box's directories, or skips the test when it cannot run (not root, no unshare).
func New(t *testing.T) *Box {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("hostsim needs root (network and mount namespaces, an overlay on /etc)")
	}
	for _, tool := range []string{"unshare", "nft", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("hostsim needs %s", tool)
		}
	}
	b := &Box{t: t, Dir: t.TempDir()}
	for _, d := range []string{"upper", "work", "state", "sysmod", "out", "in", "scripts"} {
		if err := os.Mkdir(filepath.Join(b.Dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// Script writes a script into the box and returns the shell expression of its path.
func (b *Box) Script(name, body string) string {
	b.t.Helper()
	if err := os.WriteFile(filepath.Join(b.Dir, "scripts", name), []byte(body), 0o755); err != nil {
		b.t.Fatal(err)
	}
	return `"$box/scripts/` + name + `"`
}

// Stdin sets what run NAME reads on stdin.
func (b *Box) Stdin(name, content string) {
	b.t.Helper()
	if err := os.WriteFile(filepath.Join(b.Dir, "in", name), []byte(content), 0o600); err != nil {
		b.t.Fatal(err)
	}
}

func binDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "bin")
}

// preamble sets the sandbox up and defines `run NAME SCRIPT [ARGS...]`: the script runs as
// pulumi-command runs it (bash SCRIPT with the client address first), its stdin in/NAME (or
// nothing), its output in out/NAME and its status in out/NAME.rc.
const preamble = `set -u
box=$1
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$box/upper,workdir=$box/work" /etc || exit 90
mount --bind "$box/sysmod" /sys/module || exit 92
if ip route show | grep -q .; then exit 91; fi
ip link set lo up
export PATH="$2:$PATH" HOSTSIM_STATE="$box/state"
run() {
  local name=$1 script=$2 in=/dev/null
  shift 2
  [ ! -e "$box/in/$name" ] || in=$box/in/$name
  bash "$script" "$@" <"$in" >"$box/out/$name" 2>&1
  echo $? >"$box/out/$name.rc"
}
`

// Iface returns driver lines that add an interface NAME carrying CIDR (the host's address:
// getent's AI_ADDRCONFIG wants one, keepalived its interface): a bridge without ports, which
// sends nothing anywhere (the kernel may lack the dummy module).
func Iface(name, cidr string) string {
	return "ip link add " + name + " type bridge && ip addr add " + cidr + " dev " + name + " && ip link set " + name + " up || exit 93\n"
}

// Session runs driver (bash, after the preamble) in a new sandbox session. The network namespace
// lives as long as the session; /etc, /sys/module and the doubles' state persist across sessions.
func (b *Box) Session(driver string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "--net", "--mount", "--fork", "bash", "-c", preamble+driver, "hostsim", b.Dir, binDir())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		b.t.Fatalf("hostsim session: %v\n%s", err, out.String())
	}
}

// Out is the output of run NAME.
func (b *Box) Out(name string) string {
	c, err := os.ReadFile(filepath.Join(b.Dir, "out", name))
	if err != nil {
		b.t.Fatalf("no output of %s: %v", name, err)
	}
	return string(c)
}

// RC is the exit status of run NAME.
func (b *Box) RC(name string) string {
	c, _ := os.ReadFile(filepath.Join(b.Dir, "out", name+".rc"))
	return strings.TrimSpace(string(c))
}

// Log is what the doubles changed (one line per call).
func (b *Box) Log() string {
	c, _ := os.ReadFile(filepath.Join(b.Dir, "state", "log"))
	return string(c)
}

// ChangedLine matches a line a step prints when it changed something; check mode must print none.
var ChangedLine = regexp.MustCompile(`(?m)^changed: `)

// CheckSummary matches the last line of a step in check mode (lib.sh's finish); group 1 is "in
// sync" or "N drift(s)".
var CheckSummary = regexp.MustCompile(`(?m)^pm4ml: [a-z0-9-]+: (in sync|[0-9]+ drift\(s\))$`)
