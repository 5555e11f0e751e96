// Package verify turns the guide's verification (6.6) into checks that fail `pulumi up` with a
// clear message:
//
//   - all nodes Ready; all Argo CD Applications Synced and Healthy (a failing one is printed with
//     Argo CD's reason: .status.operationState.message, .status.health.message, .status.conditions);
//   - https://argocd.<domain> shows the Argo CD login page (HTTP 200, <title>Argo CD</title>);
//   - each PM4ML endpoint answers with an expected HTTP status;
//   - the HAProxy service is active on every load balancer (over SSH, one step per host);
//   - optionally (InternalChecks, off by default), in-cluster service URLs answer from a pod: this
//     runs one throwaway pod per URL with InternalImage, which the cluster must be able to pull.
//
// The cluster and URL checks are one pulumi-command local.Command running a rendered script
// (scripts/checks.sh.tmpl) with kubectl and curl where `pulumi up` runs; the kubeconfig reaches
// it on stdin only. The checks re-run when Triggers change (pass waves.Waves.Fingerprint: it
// changes exactly when the waves change) or the script changes, and not on a no-op `up`.
package verify

import (
	"embed"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi-command/sdk/go/command/local"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/components/remotecmd"

	"github.com/pm4ml/pm4ml-onprem/internal/grammar"
)

// Token is the component's type token.
const Token = "pm4ml:verify:Verification"

//go:embed scripts/*.tmpl
var files embed.FS

var tmpl = remotecmd.Templates("verify", files, "scripts/*.tmpl")

// DefaultInternalImage runs the optional in-cluster checks (curl, pinned).
const DefaultInternalImage = "curlimages/curl:8.11.1"

// Endpoint is one PM4ML URL and the HTTP status codes it may answer with.
type Endpoint struct {
	Name         string // shown in the report and the outputs (default: the URL's host and path)
	URL          string
	ExpectStatus []int // default [200]
}

// Args of the verification: the plan (pure data, the one stacks builds for render and deploy
// alike), the load balancers' machines, the kubeconfig and the ordering input.
type Args struct {
	Plan Plan
	// Kubeconfig of the cluster: a Pulumi secret (given to the checks on stdin).
	Kubeconfig pulumi.StringInput
	// LBHosts are the machines of Plan.LBHosts, in that order: `systemctl is-active haproxy`
	// runs there over SSH as User.
	LBHosts []hosts.Host
	User    string
	// Triggers re-run the checks when they change (waves.Waves.Fingerprint).
	Triggers pulumi.Array
	// DependsOn: the last wave and the Vault secret.
	DependsOn []pulumi.Resource
}

// Plan is what the verification checks.
type Plan struct {
	// ArgoCDURL is https://argocd.<domain> (argocd.ArgoCD.ServerURL).
	ArgoCDURL string
	// PM4MLEndpoints are checked for their status codes.
	PM4MLEndpoints []Endpoint
	// Apps must exist (every Application found must be Synced+Healthy anyway).
	Apps []string
	// Nodes must exist (every node found must be Ready anyway); optional.
	Nodes []string
	// LBHosts are the HAProxy hosts' names: one `systemctl is-active haproxy` check each.
	LBHosts []string
	// InternalChecks are in-cluster URLs checked from a throwaway pod (off when empty).
	InternalChecks    []string
	InternalImage     string // default DefaultInternalImage
	InternalNamespace string // default "default"
	// TLS of the URL checks: Insecure skips verification (a lab's self-signed certificates),
	// CACertFile trusts a private CA.
	Insecure   bool
	CACertFile string
	// ResolveAddress, when set, is the address every checked URL's host resolves to (curl
	// --resolve), e.g. the public VIP when the domain is not in the DNS of the runner yet.
	ResolveAddress string
	// Attempts of the whole check set (default 6), IntervalSeconds apart (default 10).
	Attempts        int
	IntervalSeconds int
}

// checks is what the scripts are rendered from: the plan with its defaults applied and its
// endpoints resolved.
type checks struct {
	ArgoCDURL         string
	Endpoints         []PlanEndpoint
	Apps, Nodes       []string
	Internal          []string
	InternalImage     string
	InternalNamespace string
	Insecure          bool
	CACertFile        string
	Resolve           []string // curl --resolve entries host:port:address
	Attempts          int
	Interval          int
	LBHosts           []string
}

// PlanEndpoint is an Endpoint with its expected codes as "200 401".
type PlanEndpoint struct {
	Name, URL, Expect string
}

// Rendered are the scripts of the verification.
type Rendered struct {
	Checks  remotecmd.Script   // runs where pulumi up runs (kubeconfig on stdin)
	LB      []remotecmd.Script // one per LB host, in LBHosts order
	LBHosts []string
}

// Component names the package's directory in the render output (<lb host>/verify/...).
const Component = "verify"

// Files are the checks that run on the hosts (the HAProxy check, "<lb>/verify/haproxy.sh"), for
// the render command. The checks script itself runs where `pulumi up` runs, on no host.
func (r Rendered) Files() []remotecmd.File {
	var out []remotecmd.File
	for i, s := range r.LB {
		out = append(out, remotecmd.ScriptFiles(r.LBHosts[i], Component, "haproxy", s)...)
	}
	return out
}

// checks validates the plan and applies its defaults; every problem is reported at once.
func (a Plan) checks() (checks, error) {
	p := checks{
		ArgoCDURL: a.ArgoCDURL, Apps: a.Apps, Nodes: a.Nodes, Internal: a.InternalChecks,
		InternalImage: a.InternalImage, InternalNamespace: a.InternalNamespace,
		Insecure: a.Insecure, CACertFile: a.CACertFile, Attempts: a.Attempts, Interval: a.IntervalSeconds,
		LBHosts: a.LBHosts,
	}
	if p.InternalImage == "" {
		p.InternalImage = DefaultInternalImage
	}
	if p.InternalNamespace == "" {
		p.InternalNamespace = "default"
	}
	if p.Attempts == 0 {
		p.Attempts = 6
	}
	if p.Interval == 0 {
		p.Interval = 10
	}
	var errs []string
	add := func(f string, v ...any) { errs = append(errs, fmt.Sprintf(f, v...)) }
	if p.Attempts < grammar.AttemptsMin || p.Attempts > grammar.AttemptsMax || p.Interval < grammar.IntervalMin || p.Interval > grammar.IntervalMax {
		add("attempts %d and interval %d s must be at least 1", p.Attempts, p.Interval)
	}
	urls := []string{a.ArgoCDURL}
	if err := checkURL(a.ArgoCDURL); err != nil {
		add("Argo CD URL: %v (pm4ml:domain)", err)
	}
	seen := map[string]bool{}
	for i, e := range a.PM4MLEndpoints {
		if err := checkURL(e.URL); err != nil {
			add("PM4ML endpoint %d: %v", i, err)
			continue
		}
		urls = append(urls, e.URL)
		name := e.Name
		if name == "" {
			u, _ := url.Parse(e.URL)
			name = strings.TrimSuffix(u.Host+u.Path, "/")
		}
		if seen[name] || name == "argocd" {
			add("PM4ML endpoint name %q is used twice", name)
		}
		seen[name] = true
		codes := e.ExpectStatus
		if len(codes) == 0 {
			codes = []int{200}
		}
		var cs []string
		for _, c := range codes {
			if c < 100 || c > 599 {
				add("PM4ML endpoint %s: %d is not an HTTP status code", name, c)
			}
			cs = append(cs, strconv.Itoa(c))
		}
		p.Endpoints = append(p.Endpoints, PlanEndpoint{Name: name, URL: e.URL, Expect: strings.Join(cs, " ")})
	}
	for _, u := range a.InternalChecks {
		if err := checkURL(u); err != nil {
			add("in-cluster check: %v", err)
		}
	}
	if a.ResolveAddress != "" {
		if net.ParseIP(a.ResolveAddress) == nil {
			add("resolve address %q is not an IP address", a.ResolveAddress)
		}
		for _, raw := range urls {
			u, err := url.Parse(raw)
			if err != nil || u.Host == "" {
				continue
			}
			port := u.Port()
			if port == "" {
				port = map[string]string{"https": "443", "http": "80"}[u.Scheme]
			}
			r := u.Hostname() + ":" + port + ":" + a.ResolveAddress
			if !slices.Contains(p.Resolve, r) {
				p.Resolve = append(p.Resolve, r)
			}
		}
	}
	if len(errs) > 0 {
		return p, fmt.Errorf("verify: %s", strings.Join(errs, "; "))
	}
	return p, nil
}

func checkURL(raw string) error {
	if !grammar.HTTPURL.OK(raw) {
		return fmt.Errorf("%q is not an http(s) URL", raw)
	}
	return nil
}

// validate checks the plan and the machines and user New needs for it, all problems at once.
func (a *Args) validate() (checks, error) {
	c, err := a.Plan.checks()
	var errs []string
	if err != nil {
		errs = append(errs, strings.TrimPrefix(err.Error(), "verify: "))
	}
	var names []string
	for _, h := range a.LBHosts {
		names = append(names, h.Name)
	}
	if !slices.Equal(names, a.Plan.LBHosts) {
		errs = append(errs, fmt.Sprintf("the load balancer machines %v are not the plan's %v (Args.LBHosts)", names, a.Plan.LBHosts))
	}
	if len(a.LBHosts) > 0 && a.User == "" {
		errs = append(errs, "no SSH user for the load balancer checks (pm4ml:ssh.user)")
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("verify: %s", strings.Join(errs, "; "))
	}
	return c, nil
}

// Render renders the scripts: what New runs and what the render command shows.
func Render(p Plan) (Rendered, error) {
	c, err := p.checks()
	if err != nil {
		return Rendered{}, err
	}
	return render(c)
}

func render(p checks) (Rendered, error) {
	r := Rendered{LBHosts: p.LBHosts}
	s, err := remotecmd.Render("pm4ml-verify", tmpl.Lookup("checks.sh.tmpl"), p)
	if err != nil {
		return r, err
	}
	s.Secret = true // the kubeconfig passes on stdin
	r.Checks = s
	for _, h := range p.LBHosts {
		s, err := remotecmd.Render("verify-haproxy", tmpl.Lookup("haproxy.sh.tmpl"), map[string]string{"Host": h})
		if err != nil {
			return r, err
		}
		r.LB = append(r.LB, s)
	}
	return r, nil
}

// ScriptEnv is the environment variable holding the checks script: the command line stays
// short, so a failure message is the checks' report, not the script.
const ScriptEnv = "PM4ML_VERIFY_SCRIPT"

// Command is the local command line of the checks.
const Command = `bash -c "$` + ScriptEnv + `" pm4ml-verify`

// Verification is the component.
type Verification struct {
	pulumi.ResourceState

	// URLs checked: "argocd" and each endpoint's name (registered output).
	URLs pulumi.StringMapOutput `pulumi:"urls"`
	// Summary is the checks' report (registered output).
	Summary pulumi.StringOutput `pulumi:"summary"`

	Checks *local.Command
	LB     []pulumi.Resource
}

// New registers the checks.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Verification, error) {
	if args.Kubeconfig == nil {
		return nil, fmt.Errorf("verify: no kubeconfig")
	}
	if err := remotecmd.CustomOnly("verify: Args.DependsOn", args.DependsOn); err != nil {
		return nil, err
	}
	p, err := args.validate()
	if err != nil {
		return nil, err
	}
	r, err := render(p)
	if err != nil {
		return nil, err
	}
	c := &Verification{}
	if err := ctx.RegisterComponentResource(Token, name, c, opts...); err != nil {
		return nil, err
	}
	triggers := append(pulumi.Array{pulumi.String(remotecmd.Hash(r.Checks.Body))}, args.Triggers...)
	checks, err := local.NewCommand(ctx, name+"-checks", &local.CommandArgs{
		Create:                 pulumi.String(Command),
		Environment:            pulumi.StringMap{ScriptEnv: pulumi.String(r.Checks.Body)},
		Stdin:                  pulumi.ToSecret(args.Kubeconfig).(pulumi.StringOutput),
		Logging:                local.LoggingNone,
		AddPreviousOutputInEnv: pulumi.Bool(false),
		Triggers:               triggers,
	}, pulumi.Parent(c), pulumi.DependsOn(args.DependsOn),
		pulumi.AdditionalSecretOutputs([]string{"stdin"}))
	if err != nil {
		return nil, err
	}
	c.Checks = checks
	for i, h := range args.LBHosts {
		cmds, err := remotecmd.Chain(ctx, h, args.DependsOn, []remotecmd.Link{{Name: name + "-haproxy-" + h.Name, Script: r.LB[i],
			Options: remotecmd.Options{User: args.User, Triggers: args.Triggers}}}, pulumi.Parent(c))
		if err != nil {
			return nil, err
		}
		c.LB = append(c.LB, cmds[0])
	}
	urls := pulumi.StringMap{"argocd": pulumi.String(p.ArgoCDURL)}
	for _, e := range p.Endpoints {
		urls[e.Name] = pulumi.String(e.URL)
	}
	c.URLs = urls.ToStringMapOutput()
	c.Summary = checks.Stdout
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{
		"urls":    c.URLs,
		"summary": c.Summary,
	})
}
