package verify

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pm4ml/pm4ml-onprem/internal/testtool"

	"github.com/pulumi/pulumi-command/sdk/go/command/remote"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/components/remotecmd"
	"github.com/pm4ml/pm4ml-onprem/internal/mocktest"
)

func lb(name, addr string) hosts.Host {
	return hosts.Host{
		Name: name, Address: addr, Roles: hosts.NewRoles(hosts.RoleHAProxy),
		Conn: remote.ConnectionArgs{
			Host: pulumi.String(addr), User: pulumi.String("ubuntu"),
			PrivateKey: pulumi.ToSecret(pulumi.String("k")).(pulumi.StringOutput),
		},
		Identity: pulumi.String(addr),
	}
}

func fullArgs() *Args {
	return &Args{
		Plan: Plan{
			ArgoCDURL: "https://argocd.pm4ml.example.org",
			PM4MLEndpoints: []Endpoint{
				{URL: "https://portal.pm4ml.example.org/", ExpectStatus: []int{200, 302}},
				{Name: "mojaloop-connector", URL: "https://connector.pm4ml.example.org/health"},
			},
			Apps:           []string{"vault", "pm4ml"},
			Nodes:          []string{"m1", "w1"},
			LBHosts:        []string{"lb1", "lb2"},
			InternalChecks: []string{"http://pm4ml-portal.pm4ml.svc.cluster.local/"},
			Insecure:       true,
			CACertFile:     "/etc/ssl/pm4ml-ca.pem",
			ResolveAddress: "192.0.2.10",
		},
		LBHosts: []hosts.Host{lb("lb1", "10.0.0.11"), lb("lb2", "10.0.0.12")},
		User:    "ubuntu",
	}
}

func TestShellcheckRendered(t *testing.T) {
	sc := testtool.Tool(t, "shellcheck")
	dir := t.TempDir()
	var paths []string
	for i, p := range []Plan{fullArgs().Plan, {ArgoCDURL: "https://argocd.d"}} {
		r, err := Render(p)
		if err != nil {
			t.Fatal(err)
		}
		for j, s := range append([]string{r.Checks.Body}, bodies(r.LB)...) {
			f := filepath.Join(dir, fmt.Sprintf("%d-%d.sh", i, j))
			if err := os.WriteFile(f, []byte(s), 0o644); err != nil {
				t.Fatal(err)
			}
			paths = append(paths, f)
		}
	}
	if len(paths) != 4 {
		t.Fatalf("%d scripts rendered, want checks x2 + 2 LB", len(paths))
	}
	if out, err := exec.Command(sc, append([]string{"-S", "style", "-s", "bash"}, paths...)...).CombinedOutput(); err != nil {
		t.Fatalf("shellcheck -S style:\n%s", out)
	}
	bad := filepath.Join(dir, "bad.sh")
	if err := os.WriteFile(bad, []byte("#!/usr/bin/env bash\necho $1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if exec.Command(sc, "-S", "style", bad).Run() == nil {
		t.Fatal("shellcheck accepted an unquoted expansion")
	}
}

func bodies(ss []remotecmd.Script) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Body)
	}
	return out
}

func TestRenderContent(t *testing.T) {
	r, err := Render(fullArgs().Plan)
	if err != nil {
		t.Fatal(err)
	}
	b := r.Checks.Body
	for _, want := range []string{
		"PM4ML_STEP=pm4ml-verify",
		"EXPECT_NODES=('m1' 'w1' )",
		"EXPECT_APPS=('vault' 'pm4ml' )",
		"--resolve 'argocd.pm4ml.example.org:443:192.0.2.10' --resolve 'portal.pm4ml.example.org:443:192.0.2.10' --resolve 'connector.pm4ml.example.org:443:192.0.2.10'",
		" -k --cacert '/etc/ssl/pm4ml-ca.pem'",
		"EP_NAMES=('portal.pm4ml.example.org' 'mojaloop-connector' )",
		"EP_EXPECT=('200 302' '200' )",
		"--image='" + DefaultInternalImage + "'",
		"check_internal\n",
	} {
		if !strings.Contains(b, want) {
			t.Errorf("checks script lacks %q", want)
		}
	}
	if !r.Checks.Secret {
		t.Error("the checks step is not marked secret (kubeconfig on stdin)")
	}
	if len(r.LB) != 2 || !strings.Contains(r.LB[1].Body, "systemctl is-active haproxy") || !strings.Contains(r.LB[1].Body, "on lb2") {
		t.Errorf("LB scripts: %d", len(r.LB))
	}
	// in-cluster checks are off by default
	r2, _ := Render(Plan{ArgoCDURL: "https://argocd.d"})
	if strings.Contains(r2.Checks.Body, `run "pm4ml-verify-`) || strings.Contains(r2.Checks.Body, "check_internal") || strings.Contains(r2.Checks.Body, "INTERNAL_URLS") {
		t.Error("in-cluster checks rendered although InternalChecks is empty")
	}
}

func TestPlanValidation(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*Args)
		want string
	}{
		{"argocd url", func(a *Args) { a.Plan.ArgoCDURL = "argocd.example.org" }, "pm4ml:domain"},
		{"endpoint url", func(a *Args) { a.Plan.PM4MLEndpoints[0].URL = "ftp://x" }, "PM4ML endpoint 0"},
		{"status", func(a *Args) { a.Plan.PM4MLEndpoints[0].ExpectStatus = []int{42} }, "not an HTTP status"},
		{"dup names", func(a *Args) { a.Plan.PM4MLEndpoints[1].Name = "portal.pm4ml.example.org" }, "used twice"},
		{"resolve", func(a *Args) { a.Plan.ResolveAddress = "lb.example.org" }, "not an IP"},
		{"ssh user", func(a *Args) { a.User = "" }, "pm4ml:ssh.user"},
		{"lb machines", func(a *Args) { a.LBHosts = a.LBHosts[1:] }, "not the plan's [lb1 lb2] (Args.LBHosts)"},
		{"internal url", func(a *Args) { a.Plan.InternalChecks = []string{"svc:80"} }, "in-cluster check"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := fullArgs()
			c.mod(a)
			if _, err := a.validate(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
}

// fakeKubectl is a kubectl that answers the checks' queries from environment variables and
// records the kubeconfig it was given.
const fakeKubectl = `#!/usr/bin/env bash
set -euo pipefail
[ "$(cat "$KUBECONFIG")" = "$FAKE_KUBECONFIG" ] || { echo "wrong kubeconfig" >&2; exit 1; }
echo "$KUBECONFIG" >>"$FAKE_LOG"
case "$*" in
"get nodes "*) printf '%b' "$FAKE_NODES" ;;
"get applications.argoproj.io -A "*) printf '%b' "$FAKE_APPS" ;;
"-n argocd get applications.argoproj.io "*) printf 'operation Failed: %s; health: ; conditions: SyncError: %s; ' "$FAKE_REASON" "$FAKE_REASON" ;;
*) echo "unexpected: kubectl $*" >&2; exit 1 ;;
esac
`

type scenario struct {
	nodes, apps, reason string
	argoPage            string
	portalStatus        int
	argoDown            bool // the Argo CD URL points at a closed loopback port
}

func good() scenario {
	return scenario{
		nodes:        `m1|True\nw1|True\n`,
		apps:         `argocd|vault|Synced|Healthy\nargocd|pm4ml|Synced|Healthy\n`,
		argoPage:     `<!doctype html><html><head><title>Argo CD</title></head></html>`,
		portalStatus: 302,
	}
}

// runChecks renders the checks for loopback test servers and runs them with real curl and the
// fake kubectl; it returns the combined output and whether the step succeeded.
func runChecks(t *testing.T, s scenario) (string, bool) {
	t.Helper()
	testtool.Tool(t, "curl")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
			fmt.Fprint(w, s.argoPage)
		case "/portal":
			w.WriteHeader(s.portalStatus)
		case "/health":
			fmt.Fprint(w, "ok")
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	argoURL := srv.URL + "/"
	if s.argoDown {
		argoURL = closedPort(t)
	}
	r, err := Render(Plan{
		ArgoCDURL: argoURL,
		PM4MLEndpoints: []Endpoint{
			{Name: "portal", URL: srv.URL + "/portal", ExpectStatus: []int{200, 302}},
			{Name: "health", URL: srv.URL + "/health"},
		},
		Apps: []string{"vault", "pm4ml"}, Nodes: []string{"m1", "w1"},
		Attempts: 2, IntervalSeconds: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "kubectl"), []byte(fakeKubectl), 0o755); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "log")
	const kubeconfig = "apiVersion: v1\nkind: Config\n# secret"
	cmd := exec.Command("bash", "-c", `bash -c "$`+ScriptEnv+`" pm4ml-verify`) // what Command runs under /bin/sh
	cmd.Env = append(os.Environ(),
		"PATH="+dir+":"+os.Getenv("PATH"), ScriptEnv+"="+r.Checks.Body,
		"FAKE_KUBECONFIG="+kubeconfig, "FAKE_LOG="+log,
		"FAKE_NODES="+s.nodes, "FAKE_APPS="+s.apps, "FAKE_REASON="+s.reason)
	cmd.Stdin = strings.NewReader(kubeconfig)
	out, err := cmd.CombinedOutput()
	if strings.Contains(string(out), "# secret") {
		t.Error("the kubeconfig was printed")
	}
	// the temporary kubeconfig is gone afterwards
	if b, rerr := os.ReadFile(log); rerr == nil {
		for _, f := range strings.Fields(string(b)) {
			if _, serr := os.Stat(f); serr == nil {
				t.Errorf("temporary kubeconfig %s left behind", f)
			}
		}
	} else {
		t.Errorf("kubectl never ran: %v\n%s", rerr, out)
	}
	return string(out), err == nil
}

// closedPort is a loopback URL nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + l.Addr().String() + "/"
	l.Close()
	return u
}

func TestChecksPass(t *testing.T) {
	out, ok := runChecks(t, good())
	if !ok {
		t.Fatalf("checks failed:\n%s", out)
	}
	for _, want := range []string{"ok: node m1 Ready", "ok: app argocd/pm4ml Synced Healthy", "shows the login page", "ok: portal", "HTTP 302", "ok: health", "pm4ml: pm4ml-verify: no change"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestChecksFailWithReasons(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*scenario)
		want []string
	}{
		{"degraded app", func(s *scenario) {
			s.apps = `argocd|vault|Synced|Healthy\nargocd|pm4ml|OutOfSync|Degraded\n`
			s.reason = "one or more objects failed to apply: Deployment.apps pm4ml-portal is invalid"
		}, []string{"app argocd/pm4ml is OutOfSync/Degraded", "Deployment.apps pm4ml-portal is invalid"}},
		{"app without status", func(s *scenario) { s.apps = `argocd|vault|Synced|Healthy\nargocd|pm4ml||\n` }, []string{"app argocd/pm4ml is Unknown/Unknown"}},
		{"missing app", func(s *scenario) { s.apps = `argocd|vault|Synced|Healthy\n` }, []string{"app pm4ml does not exist"}},
		{"node not ready", func(s *scenario) { s.nodes = `m1|True\nw1|False\n` }, []string{"node w1 is not Ready (Ready=False)"}},
		{"missing node", func(s *scenario) { s.nodes = `m1|True\n` }, []string{"node w1 is not in the cluster"}},
		{"not argo cd", func(s *scenario) { s.argoPage = "<title>nginx</title>" }, []string{"not with the Argo CD login page"}},
		{"portal status", func(s *scenario) { s.portalStatus = 503 }, []string{"portal", "answered HTTP 503, expected 200 302"}},
		{"argo cd down", func(s *scenario) { s.argoDown = true }, []string{"no HTTP answer, not HTTP 200"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := good()
			c.mod(&s)
			out, ok := runChecks(t, s)
			if ok {
				t.Fatalf("checks passed:\n%s", out)
			}
			t.Logf("failure output:\n%s", out)
			for _, w := range append(c.want, "attempt 1: ", "check(s) of guide 6.6 failed after 2 attempt(s)") {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestComponent(t *testing.T) {
	m, err := mocktest.Run(t, map[string]string{}, nil, func(ctx *pulumi.Context) error {
		var dep depRes
		if err := ctx.RegisterResource("test:index:Last", "last-wave", pulumi.Map{}, &dep); err != nil {
			return err
		}
		a := fullArgs()
		a.Kubeconfig = pulumi.ToSecret(pulumi.String("kubeconfig-content")).(pulumi.StringOutput)
		a.Triggers = pulumi.Array{pulumi.String("fp-1234")}
		a.DependsOn = []pulumi.Resource{&dep}
		_, err := New(ctx, "verify", a)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if m.Named(t, "verify").Type != Token {
		t.Error("component type")
	}
	c := m.Named(t, "verify-checks")
	if c.Type != "command:local:Command" || m.ParentName(c) != "verify" || !m.DependsOn(t, "verify-checks", "last-wave") {
		t.Errorf("checks: %s parent %q deps %v", c.Type, m.ParentName(c), c.Deps)
	}
	if mocktest.String(c.Inputs, "create") != Command || mocktest.String(c.Inputs, "logging") != "none" {
		t.Errorf("create %q logging %q", mocktest.String(c.Inputs, "create"), mocktest.String(c.Inputs, "logging"))
	}
	env := c.Inputs["environment"].ObjectValue()
	if !strings.Contains(mocktest.String(env, ScriptEnv), "check_apps") {
		t.Error("script not in the environment")
	}
	if !mocktest.IsSecret(c.Inputs, "stdin") || mocktest.String(c.Inputs, "stdin") != "kubeconfig-content" {
		t.Error("kubeconfig not on stdin as a secret")
	}
	if strings.Contains(mocktest.String(env, ScriptEnv), "kubeconfig-content") || strings.Contains(mocktest.String(c.Inputs, "create"), "kubeconfig-content") {
		t.Error("kubeconfig in the script")
	}
	if !slices.Contains(c.AdditionalSecretOutputs, "stdin") {
		t.Errorf("AdditionalSecretOutputs %v", c.AdditionalSecretOutputs)
	}
	trig := c.Inputs["triggers"].ArrayValue()
	if len(trig) != 2 || trig[1].StringValue() != "fp-1234" {
		t.Errorf("triggers %v, want [script hash, fp-1234]", trig)
	}
	for _, h := range []string{"lb1", "lb2"} {
		r := m.Named(t, "verify-haproxy-"+h)
		if r.Type != "command:remote:Command" || m.ParentName(r) != "verify" || !m.DependsOn(t, r.Name, "last-wave") {
			t.Errorf("%s: %s parent %q", r.Name, r.Type, m.ParentName(r))
		}
		if !strings.Contains(mocktest.String(r.Inputs, "create"), "systemctl is-active haproxy") {
			t.Errorf("%s create lacks the check", r.Name)
		}
		if tr := r.Inputs["triggers"].ArrayValue(); len(tr) != 2 || tr[1].StringValue() != "fp-1234" {
			t.Errorf("%s triggers %v", r.Name, tr)
		}
	}
}

type depRes struct{ pulumi.CustomResourceState }

// TestJSONPathsWithRealKubectl runs the checks' kubectl jsonpath templates, taken from the
// rendered script, through the real kubectl on local objects (annotate --local: no API server is
// contacted) to prove their syntax and their output format, missing fields included.
func TestJSONPathsWithRealKubectl(t *testing.T) {
	kubectl := testtool.Tool(t, "kubectl")
	r, err := Render(Plan{ArgoCDURL: "https://argocd.d"})
	if err != nil {
		t.Fatal(err)
	}
	paths := regexp.MustCompile(`-o jsonpath='([^']*)'`).FindAllStringSubmatch(r.Checks.Body, -1)
	if len(paths) != 3 {
		t.Fatalf("%d jsonpath templates in the script, want 3 (nodes, apps, reason)", len(paths))
	}
	perItem := func(s string) string {
		if !strings.HasPrefix(s, "{range .items[*]}") || !strings.HasSuffix(s, "{end}") {
			t.Fatalf("list template %q does not range over .items", s)
		}
		return strings.TrimSuffix(strings.TrimPrefix(s, "{range .items[*]}"), "{end}")
	}
	var nodesT, appsT, reasonT string
	for _, m := range paths {
		switch s := m[1]; {
		case strings.Contains(s, "operationState"):
			reasonT = s
		case strings.Contains(s, ".status.sync.status"):
			appsT = perItem(s)
		case strings.Contains(s, `@.type=="Ready"`):
			nodesT = perItem(s)
		}
	}
	if nodesT == "" || appsT == "" || reasonT == "" {
		t.Fatalf("jsonpath templates not recognised: %q", paths)
	}

	dir := t.TempDir()
	// a kubeconfig that points nowhere reachable: --local must not need it
	kc := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kc, []byte("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: \"https://127.0.0.1:1\"}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\nusers: [{name: u, user: {token: x}}]\ncurrent-context: c\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	eval := func(obj, tmpl string) string {
		f := filepath.Join(dir, "obj.json")
		if err := os.WriteFile(f, []byte(obj), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(kubectl, "annotate", "--local", "-f", f, "pm4ml.io/test=1", "-o", "jsonpath="+tmpl)
		cmd.Env = append(os.Environ(), "KUBECONFIG="+kc)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl jsonpath %q: %v\n%s", tmpl, err, out)
		}
		return string(out)
	}
	node := `{"apiVersion":"v1","kind":"Node","metadata":{"name":"w1"},"status":{"conditions":[{"type":"MemoryPressure","status":"False"},{"type":"Ready","status":"Unknown"}]}}`
	if got := eval(node, nodesT); got != "w1|Unknown\n" {
		t.Errorf("node line %q", got)
	}
	failing := `{"apiVersion":"argoproj.io/v1alpha1","kind":"Application","metadata":{"name":"pm4ml","namespace":"argocd"},` +
		`"status":{"sync":{"status":"OutOfSync"},"health":{"status":"Degraded","message":"Deployment pm4ml-portal: progress deadline exceeded"},` +
		`"operationState":{"phase":"Failed","message":"one or more synchronization tasks completed unsuccessfully"},` +
		`"conditions":[{"type":"SyncError","message":"Failed sync attempt: retried 5 times"}]}}`
	if got := eval(failing, appsT); got != "argocd|pm4ml|OutOfSync|Degraded\n" {
		t.Errorf("app line %q", got)
	}
	want := "operation Failed: one or more synchronization tasks completed unsuccessfully; health: Deployment pm4ml-portal: progress deadline exceeded; conditions: SyncError: Failed sync attempt: retried 5 times; "
	if got := eval(failing, reasonT); got != want {
		t.Errorf("reason\n got %q\nwant %q", got, want)
	}
	fresh := `{"apiVersion":"argoproj.io/v1alpha1","kind":"Application","metadata":{"name":"new","namespace":"argocd"}}`
	if got := eval(fresh, appsT); got != "argocd|new||\n" {
		t.Errorf("app without status %q", got)
	}
}
