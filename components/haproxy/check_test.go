package haproxy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pm4ml/pm4ml-onprem/internal/hostsim"
)

var (
	changedLine  = regexp.MustCompile(`(?m)^changed: `)
	checkSummary = regexp.MustCompile(`(?m)^pm4ml: (haproxy-[a-z]+): (in sync|[0-9]+ drift\(s\))$`)
)

// TestCheckMode runs lb2's steps (haproxy with stats, keepalived as VRRP backup) in the hostsim
// sandbox with the real haproxy -c and keepalived -t: check on a fresh host drifts and changes
// nothing; after the apply every check is in sync; a hand-edited haproxy.cfg and a stopped
// keepalived are reported (the file with a diff, the stats password never), and apply puts them back.
func TestCheckMode(t *testing.T) {
	for _, tool := range []string{"haproxy", "keepalived"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is needed (scripts/tools.sh --deb)", tool)
		}
	}
	b := hostsim.New(t)
	p := prodPlan()
	r, err := RenderHost(p, "lb2")
	if err != nil {
		t.Fatal(err)
	}
	const password = "s3cret-stats-pw"
	var steps []string
	path := map[string]string{}
	for _, s := range r.Scripts {
		steps = append(steps, s.Step)
		path[s.Step] = b.Script(s.Step+".sh", s.Body)
	}
	phase := func(prefix, mode string) string {
		var d strings.Builder
		for _, s := range steps {
			if s == "haproxy-config" {
				b.Stdin(prefix+"-"+s, password+"\n")
			}
			d.WriteString("run " + prefix + "-" + s + " " + path[s] + " ''" + mode + "\n")
		}
		return d.String()
	}
	sum := func(run string) string {
		t.Helper()
		out := b.Out(run)
		if b.RC(run) != "0" {
			t.Fatalf("%s failed (rc %s):\n%s", run, b.RC(run), out)
		}
		if strings.Contains(out, password) {
			t.Errorf("%s shows the stats password", run)
		}
		m := checkSummary.FindStringSubmatch(out)
		if strings.HasPrefix(run, "c") {
			if m == nil {
				t.Fatalf("%s: no check summary:\n%s", run, out)
			}
			if changedLine.MatchString(out) {
				t.Errorf("%s printed a change:\n%s", run, out)
			}
		}
		if m == nil {
			return ""
		}
		return m[2]
	}
	setup := hostsim.Iface(p.Interface, "10.20.0.12/24") + "echo 1 >/proc/sys/net/ipv4/ip_nonlocal_bind\n"

	b.Session(setup + phase("c0", " check"))
	for _, s := range steps {
		if got := sum("c0-" + s); got == "in sync" {
			t.Errorf("%s on a fresh host: in sync", s)
		}
	}
	if l := b.Log(); l != "" {
		t.Errorf("check mode changed the host:\n%s", l)
	}

	b.Session(setup + phase("a1", "") + phase("c1", " check") + `
sed -i 's/^    timeout connect 5s$/    timeout connect 50s/' /etc/haproxy/haproxy.cfg
echo 'user admin insecure-password other' >>/etc/haproxy/pm4ml-stats.cfg
systemctl stop keepalived
` + phase("c2", " check") + phase("a2", "") + phase("c3", " check"))
	// the configuration the step wrote (its servers expanded on the host from the workers' data
	// lines) is the rendered haproxy.cfg byte for byte (a2 put back the hand edit)
	if got, err := os.ReadFile(filepath.Join(b.Dir, "upper", "haproxy", "haproxy.cfg")); err != nil || string(got) != r.HAProxyCfg {
		t.Errorf("the host's haproxy.cfg is not the rendered one (%v):\n%s", err, got)
	}
	for _, s := range steps {
		for _, c := range []string{"c1", "c3"} {
			if got := sum(c + "-" + s); got != "in sync" {
				t.Errorf("%s %s: %s\n%s", c, s, got, b.Out(c+"-"+s))
			}
		}
	}
	if got := sum("c2-haproxy-install"); got != "in sync" {
		t.Errorf("install with the drift: %s", got)
	}
	cfg := b.Out("c2-haproxy-config")
	for _, w := range []string{
		"drift: /etc/haproxy/pm4ml-stats.cfg content differs (secret: no diff shown)\n",
		"drift: /etc/haproxy/haproxy.cfg content differs (- on the host, + rendered):\n",
		"  -    timeout connect 50s\n  +    timeout connect 5s\n",
		"drift: haproxy reloaded (established connections kept)\n",
		"pm4ml: haproxy-config: 3 drift(s)\n",
	} {
		if !strings.Contains(cfg, w) {
			t.Errorf("config check lacks %q:\n%s", w, cfg)
		}
	}
	if ka := b.Out("c2-haproxy-keepalived"); !strings.Contains(ka, "drift: keepalived started\n") || sum("c2-haproxy-keepalived") != "1 drift(s)" {
		t.Errorf("keepalived check:\n%s", ka)
	}
}
