// Package validators runs the real tools on what the program renders for the shipped stacks: nft
// on every host's ruleset (check mode, and loaded for real inside a network namespace this test
// creates), shellcheck and bash -n on every script, and the read-only preflight on this machine.
// A missing tool fails the test unless PM4ML_SKIP_VALIDATORS=1.
package validators

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pm4ml/pm4ml-onprem/internal/testtool"

	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/components/network"
	"github.com/pm4ml/pm4ml-onprem/stacks"
)

var shippedStacks = []string{"prod", "stg"}

// requireRootForValidator: nft needs CAP_NET_ADMIN even in check mode.
func requireRootForValidator(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if testtool.Skipping() {
			t.Skip("not root (PM4ML_SKIP_VALIDATORS=1)")
		}
		t.Fatal("nft -c needs root (CAP_NET_ADMIN): run the tests as root or set PM4ML_SKIP_VALIDATORS=1")
	}
}

// requireRootForNamespace: the namespace tests only run as root; they skip otherwise.
func requireRootForNamespace(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("creating a network namespace needs root")
	}
}

func run(t *testing.T, stdin []byte, name string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err = cmd.Run()
	return o.String(), e.String(), err
}

// sentinel values stand for the secrets: the render must never contain any of them.
func sentinel(key string) string { return "PM4ML-SENTINEL-" + strings.ToUpper(key) + "-7f3a9c" }

type rendered struct {
	stack string
	cfg   *stacks.Config
	dir   string
	files map[string]stacks.Artifact // by path
}

// hostFile is the path of a host's hostprep artifact.
func (r rendered) hostFile(host, file string) string {
	return filepath.Join(r.dir, host, "hostprep", file)
}

func renderStack(t *testing.T, stack string, set map[string]string) rendered {
	t.Helper()
	src, err := stacks.ReadStackFile("../../Pulumi." + stack + ".yaml")
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range set {
		src.Set(k, v, false)
	}
	// Every secret the stack accepts gets a sentinel value (a secret the stack refuses, such as
	// a bastion key without a bastion, is left unset).
	var added []string
	for _, k := range stacks.SecretKeys {
		if _, ok := src.Get(k); !ok {
			src.Set(k, sentinel(k), true)
			added = append(added, k)
		}
	}
	if _, err := stacks.LoadForRender(src); err != nil {
		var fe *stacks.FieldError
		for _, p := range unwrapAll(err) {
			if errors.As(p, &fe) {
				if k, ok := strings.CutPrefix(fe.Key, stacks.Namespace+":"); ok && slices.Contains(added, k) {
					src.Delete(k)
				}
			}
		}
	}
	cfg, err := stacks.LoadForRender(src)
	if err != nil {
		t.Fatalf("%s: %v", stack, err)
	}
	arts, err := stacks.Render(cfg)
	if err != nil {
		t.Fatalf("%s: %v", stack, err)
	}
	r := rendered{stack: stack, cfg: cfg, dir: t.TempDir(), files: map[string]stacks.Artifact{}}
	for _, a := range arts {
		p := filepath.Join(r.dir, filepath.FromSlash(a.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(a.Content), os.FileMode(a.Mode)); err != nil {
			t.Fatal(err)
		}
		r.files[a.Path] = a
	}
	return r
}

func unwrapAll(err error) []error {
	if m, ok := err.(interface{ Unwrap() []error }); ok {
		return m.Unwrap()
	}
	return []error{err}
}

func (r rendered) scripts() []string {
	var out []string
	for p := range r.files {
		if strings.HasSuffix(p, ".sh") {
			out = append(out, filepath.Join(r.dir, filepath.FromSlash(p)))
		}
	}
	slices.Sort(out)
	return out
}

func TestRenderedArtifactsPerHost(t *testing.T) {
	for _, stack := range shippedStacks {
		t.Run(stack, func(t *testing.T) {
			r := renderStack(t, stack, nil)
			if len(r.cfg.Hosts) == 0 {
				t.Fatal("no hosts")
			}
			want := 1 // MANIFEST.md
			for _, h := range r.cfg.Hosts {
				for _, f := range []string{"10-preflight.sh", "20-base.sh", "30-tuning.sh", "40-firewall.sh", "nftables.nft"} {
					a, ok := r.files[h.Name+"/hostprep/"+f]
					if !ok {
						t.Errorf("%s: %s not rendered", h.Name, f)
						continue
					}
					if strings.HasSuffix(f, ".sh") != (a.Mode == 0o755) {
						t.Errorf("%s/%s: mode %o", h.Name, f, a.Mode)
					}
					want++
				}
			}
			if len(r.files) < want {
				t.Errorf("%d files, want at least %d", len(r.files), want)
			}
		})
	}
}

func TestNftCheckEveryRuleset(t *testing.T) {
	nft := testtool.Tool(t, "nft")
	requireRootForValidator(t)
	for _, stack := range shippedStacks {
		r := renderStack(t, stack, nil)
		for _, h := range r.cfg.Hosts {
			t.Run(stack+"/"+h.Name, func(t *testing.T) {
				if _, stderr, err := run(t, nil, nft, "-c", "-f", r.hostFile(h.Name, "nftables.nft")); err != nil {
					t.Errorf("nft -c rejects the ruleset: %v\n%s", err, stderr)
				}
			})
		}
	}
}

func TestShellcheckEveryScript(t *testing.T) {
	sc := testtool.Tool(t, "shellcheck")
	for _, stack := range shippedStacks {
		t.Run(stack, func(t *testing.T) {
			files := renderStack(t, stack, nil).scripts()
			if len(files) == 0 {
				t.Fatal("no scripts")
			}
			// Two batches in parallel: shellcheck is the slow part of this package.
			half := (len(files) + 1) / 2
			type res struct {
				out string
				err error
			}
			ch := make(chan res, 2)
			for _, batch := range [][]string{files[:half], files[half:]} {
				go func() {
					cmd := exec.Command(sc, append([]string{"-S", "style", "-f", "gcc"}, batch...)...)
					out, err := cmd.CombinedOutput()
					ch <- res{string(out), err}
				}()
			}
			for range 2 {
				if r := <-ch; r.err != nil {
					t.Errorf("shellcheck -S style: %v\n%s", r.err, r.out)
				}
			}
		})
	}
}

func TestBashSyntaxEveryScript(t *testing.T) {
	bash := testtool.Tool(t, "bash")
	for _, stack := range shippedStacks {
		for _, f := range renderStack(t, stack, nil).scripts() {
			if _, stderr, err := run(t, nil, bash, "-n", f); err != nil {
				t.Errorf("bash -n %s: %v\n%s", f, err, stderr)
			}
		}
	}
}

// secretLooking are patterns of credentials that must never appear in a rendered file.
var secretLooking = []*regexp.Regexp{
	regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----`),
	regexp.MustCompile(`[A-Za-z0-9._-]+@(pve|pam|pbs)![A-Za-z0-9._-]+`), // Proxmox API token id
	regexp.MustCompile(`\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b`),
	regexp.MustCompile(`\b(ghp|gho|ghs|glpat|xox[abprs])[-_][A-Za-z0-9_-]{10,}`),
	regexp.MustCompile(`\bAKIA[0-9A-Z]{16}\b`),
	regexp.MustCompile(`\bhvs\.[A-Za-z0-9_-]{20,}`), // Vault token
	regexp.MustCompile(`(?i)\b(password|passwd|secret|token|apikey|api_key)\s*[=:]\s*['"]?[^\s'"$]{6,}`),
	regexp.MustCompile(`[A-Za-z0-9+/]{60,}={0,2}`), // long base64 blob (keys, tokens)
	regexp.MustCompile(`PM4ML-SENTINEL-`),
}

func TestScriptsStrictAndFreeOfSecrets(t *testing.T) {
	for _, stack := range shippedStacks {
		t.Run(stack, func(t *testing.T) {
			r := renderStack(t, stack, nil)
			for p, a := range r.files {
				if strings.HasSuffix(p, ".sh") {
					if !strings.HasPrefix(a.Content, "#!/usr/bin/env bash\n") || !strings.Contains(a.Content, "\nset -euo pipefail\n") {
						t.Errorf("%s: no bash shebang or no `set -euo pipefail`", p)
					}
				}
				for _, re := range secretLooking {
					if m := re.FindString(a.Content); m != "" {
						t.Errorf("%s contains a secret-looking value %q (%s)", p, m, re)
					}
				}
				for _, k := range stacks.SecretKeys {
					if strings.Contains(a.Content, sentinel(k)) {
						t.Errorf("%s contains the value of the secret pm4ml:%s", p, k)
					}
				}
			}
		})
	}
	// The detectors do detect (a test that cannot fail proves nothing).
	for _, s := range []string{
		"-----BEGIN OPENSSH PRIVATE KEY-----", "pulumi@pve!pm4ml=0b6c1e2a-3f4d-4e5f-8a9b-0c1d2e3f4a5b",
		"password=hunter2hunter2", "ghp_abcdefghijklmnopqrstuvwxyz012345", sentinel("x"),
	} {
		if !slices.ContainsFunc(secretLooking, func(re *regexp.Regexp) bool { return re.MatchString(s) }) {
			t.Errorf("detector misses %q", s)
		}
	}
}

var embeddedRuleset = regexp.MustCompile(`(?s)\ncat >"\$tmp" <<'PM4ML_NFT'\n(.*?)PM4ML_NFT\n`)

func TestFirewallScriptEmbedsNftablesFile(t *testing.T) {
	for _, stack := range shippedStacks {
		r := renderStack(t, stack, nil)
		for _, h := range r.cfg.Hosts {
			fw, err := os.ReadFile(r.hostFile(h.Name, "40-firewall.sh"))
			if err != nil {
				t.Fatal(err)
			}
			nft, err := os.ReadFile(r.hostFile(h.Name, "nftables.nft"))
			if err != nil {
				t.Fatal(err)
			}
			m := embeddedRuleset.FindAllSubmatch(fw, -1)
			if len(m) != 1 {
				t.Errorf("%s/%s: %d embedded rulesets, want 1", stack, h.Name, len(m))
				continue
			}
			if !bytes.Equal(m[0][1], nft) {
				t.Errorf("%s/%s: the firewall script's ruleset differs from nftables.nft", stack, h.Name)
			}
		}
	}
}

// expectedSets computes, from the stack's configuration, the source sets a host's ruleset must
// define: set name -> addresses.
func expectedSets(cfg *stacks.Config, h stacks.HostSpec) map[string][]string {
	topo := cfg.Topology()
	out := map[string][]string{}
	for _, a := range topo.RulesFor(network.Node{Name: h.Name, Address: h.Address, Roles: hosts.NewRoles(h.Roles...)}) {
		if a.Anywhere || len(a.Sources) == 0 {
			continue
		}
		name := strings.ReplaceAll(string(a.Rule.From), "-", "_")
		if a.Rule.Proto == network.VRRP {
			name = "vrrp_peers"
		}
		out[name] = a.Sources
	}
	return out
}

var setRe = regexp.MustCompile(`(?s)set (\w+) \{.*?elements = \{(.*?)\}`)

// listedSets parses `nft list table` output into set name -> elements.
func listedSets(list string) map[string][]string {
	out := map[string][]string{}
	for _, m := range setRe.FindAllStringSubmatch(list, -1) {
		var els []string
		for _, f := range strings.FieldsFunc(m[2], func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' }) {
			els = append(els, f)
		}
		out[m[1]] = els
	}
	return out
}

// TestRulesetLoadsInNetworkNamespace loads every host's ruleset for real, twice, inside a fresh
// network namespace (unshare --net: only a loopback that is down, no route; it disappears with
// the process), then reads the table back from the kernel.
func TestRulesetLoadsInNetworkNamespace(t *testing.T) {
	requireRootForNamespace(t)
	unshare := testtool.Tool(t, "unshare")
	testtool.Tool(t, "nft")
	for _, stack := range shippedStacks {
		r := renderStack(t, stack, nil)
		for _, h := range r.cfg.Hosts {
			t.Run(stack+"/"+h.Name, func(t *testing.T) {
				file := r.hostFile(h.Name, "nftables.nft")
				script := `set -eu
ip route show | grep -q . && { echo "namespace has a route" >&2; exit 3; }
nft -f "$1"
nft -f "$1"
nft list table inet pm4ml
echo "tables: $(nft list tables | wc -l)"`
				out, stderr, err := run(t, nil, unshare, "--net", "bash", "-c", script, "ns", file)
				if err != nil {
					t.Fatalf("loading in a namespace: %v\n%s", err, stderr)
				}
				if !strings.Contains(out, "tables: 1\n") {
					t.Errorf("loading twice left more than one table:\n%s", out)
				}
				got := listedSets(out)
				want := expectedSets(r.cfg, h)
				if len(want) == 0 {
					t.Fatal("no source set expected: the expectation is broken")
				}
				for name, addrs := range want {
					if !slices.Equal(got[name], addrs) {
						t.Errorf("set %s = %v in the kernel, want %v", name, got[name], addrs)
					}
				}
				for name := range got {
					if _, ok := want[name]; !ok {
						t.Errorf("unexpected set %s", name)
					}
				}
				if !strings.Contains(out, "policy drop;") || !strings.Contains(out, "ip saddr @admin_allowlist tcp dport 22 accept") {
					t.Errorf("input chain not as rendered:\n%s", out)
				}
			})
		}
	}
}

// admittedClient is an SSH client address the host's ruleset admits (a bastion, else an address
// inside the first allowlisted network).
func admittedClient(t *testing.T, sources []string) string {
	t.Helper()
	for _, s := range sources {
		if a, err := netip.ParseAddr(s); err == nil {
			return a.String()
		}
	}
	p, err := netip.ParsePrefix(sources[0])
	if err != nil {
		t.Fatal(err)
	}
	return p.Addr().Next().String()
}

// TestFirewallScriptInSandbox runs each host's whole firewall step as it runs on the host, inside
// a fresh network namespace and a private mount namespace whose /etc is an overlay (writes land
// in a temporary directory), with systemctl stubbed. First run changes, second run changes
// nothing, and a client the ruleset would lock out is refused before anything is touched.
func TestFirewallScriptInSandbox(t *testing.T) {
	requireRootForNamespace(t)
	unshare := testtool.Tool(t, "unshare")
	testtool.Tool(t, "nft")
	for _, stack := range shippedStacks {
		r := renderStack(t, stack, nil)
		topo := r.cfg.Topology()
		sshSources := topo.Sources(network.FromAdminAllowlist)
		client := admittedClient(t, sshSources)
		for _, h := range r.cfg.Hosts {
			t.Run(stack+"/"+h.Name, func(t *testing.T) {
				box := t.TempDir()
				for _, d := range []string{"upper", "work", "bin", "state"} {
					if err := os.Mkdir(filepath.Join(box, d), 0o755); err != nil {
						t.Fatal(err)
					}
				}
				stub := fmt.Sprintf(`#!/bin/sh
echo "$*" >>%[1]s/systemctl.log
case "$1" in
  is-enabled) [ -e %[1]s/state/enabled-"$2" ] ;;
  enable) touch %[1]s/state/enabled-"$2" ;;
  *) exit 0 ;;
esac
`, box)
				if err := os.WriteFile(filepath.Join(box, "bin", "systemctl"), []byte(stub), 0o755); err != nil {
					t.Fatal(err)
				}
				fw := r.hostFile(h.Name, "40-firewall.sh")
				script := `set -u
box=$1 fw=$2 client=$3
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$box/upper,workdir=$box/work" /etc || exit 90
ip route show | grep -q . && exit 91
export PATH="$box/bin:$PATH"
bash "$fw" 203.0.113.99 >"$box/out0" 2>&1; echo $? >"$box/rc0"
nft list tables >"$box/tables0"
bash "$fw" "$client" >"$box/out1" 2>&1; echo $? >"$box/rc1"
bash "$fw" "$client" >"$box/out2" 2>&1; echo $? >"$box/rc2"
nft list table inet pm4ml >"$box/list"`
				if _, stderr, err := run(t, nil, unshare, "--net", "--mount", "--fork", "bash", "-c", script, "sandbox", box, fw, client); err != nil {
					t.Fatalf("sandbox: %v\n%s", err, stderr)
				}
				read := func(f string) string {
					b, err := os.ReadFile(filepath.Join(box, f))
					if err != nil {
						t.Fatal(err)
					}
					return string(b)
				}
				// Lockout guard: a client outside the SSH sources is refused, nothing loaded.
				if rc := strings.TrimSpace(read("rc0")); rc != "1" || !strings.Contains(read("out0"), "does not admit to SSH") {
					t.Errorf("client 203.0.113.99 not refused (rc %s):\n%s", rc, read("out0"))
				}
				if strings.TrimSpace(read("tables0")) != "" {
					t.Errorf("the refused run loaded tables: %s", read("tables0"))
				}
				if rc := strings.TrimSpace(read("rc1")); rc != "0" {
					t.Fatalf("first run from %s failed (rc %s):\n%s", client, rc, read("out1"))
				}
				for _, w := range []string{"changed: nftables table inet pm4ml loaded", "changed: /etc/pm4ml/nftables.nft", "changed: pm4ml-firewall.service enabled", "pm4ml: hostprep-firewall: "} {
					if !strings.Contains(read("out1"), w) {
						t.Errorf("first run lacks %q:\n%s", w, read("out1"))
					}
				}
				out2 := read("out2")
				if rc := strings.TrimSpace(read("rc2")); rc != "0" || !strings.Contains(out2, "pm4ml: hostprep-firewall: no change") || regexp.MustCompile(`(?m)^changed:`).MatchString(out2) {
					t.Errorf("second run is not a no-op (rc %s):\n%s", rc, out2)
				}
				installed, err := os.ReadFile(filepath.Join(box, "upper", "pm4ml", "nftables.nft"))
				if err != nil {
					t.Fatal(err)
				}
				if want := r.files[h.Name+"/hostprep/nftables.nft"].Content; string(installed) != want {
					t.Error("the installed ruleset differs from the rendered nftables.nft")
				}
				if fi, err := os.Stat(filepath.Join(box, "upper", "pm4ml", "nftables.nft")); err != nil || fi.Mode().Perm() != 0o600 {
					t.Errorf("installed ruleset mode: %v %v", fi.Mode(), err)
				}
				unit := read("upper/systemd/system/pm4ml-firewall.service")
				if !strings.Contains(unit, "ExecStart=/usr/sbin/nft -f /etc/pm4ml/nftables.nft") {
					t.Errorf("unit:\n%s", unit)
				}
				if log := read("systemctl.log"); strings.Count(log, "enable pm4ml-firewall.service\n") != 1 {
					t.Errorf("systemctl calls:\n%s", log)
				}
				if got := listedSets(read("list")); !slices.Equal(got["admin_allowlist"], sshSources) {
					t.Errorf("kernel admin_allowlist %v, want %v", got["admin_allowlist"], sshSources)
				}
			})
		}
	}
}

var problemLine = regexp.MustCompile(`(?m)^FAIL: (.*)$`)

// TestPreflightRunsOnThisMachine runs preflights for real (they are read-only) inside a fresh
// network namespace, so name lookups cannot leave the machine, and checks each verdict against
// the machine's facts.
func TestPreflightRunsOnThisMachine(t *testing.T) {
	requireRootForNamespace(t)
	unshare := testtool.Tool(t, "unshare")
	osRelease, err := os.ReadFile("/etc/os-release")
	if err != nil {
		t.Fatal(err)
	}
	field := func(k string) string {
		m := regexp.MustCompile(`(?m)^` + k + `="?([^"\n]*)"?$`).FindStringSubmatch(string(osRelease))
		if m == nil {
			return ""
		}
		return m[1]
	}
	id, version := field("ID"), field("VERSION_ID")
	ubuntu := id == "ubuntu" && version == "24.04"
	debian12 := id == "debian" && version == "12"
	nprocOut, _, err := run(t, nil, "nproc")
	if err != nil {
		t.Fatal(err)
	}
	var cpus int
	fmt.Sscan(nprocOut, &cpus)

	runPreflight := func(t *testing.T, r rendered, host string) (string, bool) {
		out, stderr, err := run(t, nil, unshare, "--net", "bash", r.hostFile(host, "10-preflight.sh"), "192.0.2.1")
		return out + stderr, err == nil
	}

	t.Run("prod master", func(t *testing.T) {
		r := renderStack(t, "prod", nil)
		out, ok := runPreflight(t, r, "prod-master-1")
		fails := problemLine.FindAllStringSubmatch(out, -1)
		if ok != (len(fails) == 0) {
			t.Errorf("exit status %v with %d problems:\n%s", ok, len(fails), out)
		}
		if !ok && !strings.Contains(out, fmt.Sprintf("preflight of prod-master-1 failed: %d problem(s)", len(fails))) {
			t.Errorf("failure summary missing:\n%s", out)
		}
		osFail := strings.Contains(out, "FAIL: OS is ")
		if osFail == ubuntu {
			t.Errorf("OS verdict wrong for %s %s:\n%s", id, version, out)
		}
		cpuFail := strings.Contains(out, "CPUs, the guide sizes master with 8 (guide 4)")
		if cpuFail != (cpus < 8) {
			t.Errorf("CPU verdict wrong for %d CPUs:\n%s", cpus, out)
		}
	})
	t.Run("stg lab", func(t *testing.T) {
		r := renderStack(t, "stg", map[string]string{"lab": "true"})
		out, ok := runPreflight(t, r, "stg-k8s-1")
		if !strings.Contains(out, "lab: sizing minimums not enforced") || strings.Contains(out, "the guide sizes") {
			t.Errorf("lab preflight enforces sizing:\n%s", out)
		}
		if want := ubuntu || debian12; ok != want {
			t.Errorf("lab preflight on %s %s: passed %v, want %v:\n%s", id, version, ok, want, out)
		}
		if ok && !strings.Contains(out, "unchanged: preflight of stg-k8s-1 passed (read-only step)") {
			t.Errorf("no pass line:\n%s", out)
		}
	})
}
