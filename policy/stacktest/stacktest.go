// Package stacktest runs the real program (stacks.Load + stacks.Build) for a shipped stack under
// mocks and turns what it registered into the resources the Pulumi engine hands a stack policy
// (AnalyzeStack), so that the policy pack's validators run in-process on them.
//
// Equivalence with the engine (documented in docs/POLICY.md):
//   - Custom resources: AnalyzeStack receives each resource's outputs. Under mocks the outputs are
//     the inputs echoed back (internal/mocktest), so the recorded inputs are used: the same values
//     a preview shows before the provider adds its own computed outputs.
//   - Component resources: the engine stores what RegisterResourceOutputs registered; the mock
//     monitor never passes it on, so the outputs are resolved from the Go structs Build returns
//     (StackComponents: every `pulumi:"..."` output field plus the entries registered
//     without a field), with their known/secret state.
//   - yaml/v2 ConfigGroup: the provider registers one child resource per object of the YAML;
//     under mocks the group is opaque, so its objects are expanded here into child resources of
//     type kubernetes:<group>/<version>:<Kind>.
//   - Layers Build does not register yet (the Facts component, the HAProxy load balancer) are
//     registered here the way Build is to register them, unless the Stack already holds them.
package stacktest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pm4ml/pm4ml-onprem/internal/fixtures"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/property"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
	"golang.org/x/crypto/ssh"
	"gopkg.in/yaml.v3"

	"github.com/pm4ml/pm4ml-onprem/components/haproxy"
	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/internal/mocktest"
	"github.com/pm4ml/pm4ml-onprem/stacks"
)

// FakeSecret is the test value of a secret key (recognisable, and not a placeholder).
func FakeSecret(k string) string { return "pm4ml-test-secret-value-of-" + k + "-do-not-log" }

// Options change a run.
type Options struct {
	// Config changes the stack's configuration before the program loads it.
	Config func(src *stacks.FileSource)
	// Extra registers more resources in the same program run (e.g. Kubernetes objects).
	Extra func(ctx *pulumi.Context, st *stacks.Stack) error
	// Preview runs the program as a preview (dry run) in which every remote command's stdout is
	// unknown, as in a first `pulumi preview`.
	Preview bool
}

// Result is what a run registered.
type Result struct {
	Stack     *stacks.Stack
	Mocks     *mocktest.Mocks
	Resources []policyx.AnalyzerResource
}

// RepoRoot finds the module root (the directory of go.mod) above the working directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

func newSSHKey(t testing.TB) string {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "pm4ml-policy-test")
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(block))
}

// Source reads the shipped Pulumi.<stack>.yaml with every secret it requires set (the secrets
// the configuration reports missing, as the stack file's header tells an operator to set them) and
// Argo CD's install manifest taken from the component's fixtures (tests never download).
func Source(t testing.TB, stack string) *stacks.FileSource {
	t.Helper()
	root := RepoRoot(t)
	src, err := stacks.ReadStackFile(filepath.Join(root, "Pulumi."+stack+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	manifest := "install.yaml"
	if stack == "prod" {
		manifest = "install-ha.yaml"
	}
	argo := map[string]any{}
	if raw, ok := src.Get("argocd"); ok && raw != "" {
		if err := json.Unmarshal([]byte(raw), &argo); err != nil {
			t.Fatal(err)
		}
	}
	argo["manifestPath"] = filepath.Join(root, "components", "argocd", "testdata", manifest)
	b, _ := json.Marshal(argo)
	src.Set("argocd", string(b), false)
	for range 3 {
		_, err := stacks.Load(src)
		var ce *stacks.ConfigError
		if err == nil || !errors.As(err, &ce) {
			break
		}
		set := 0
		for _, p := range ce.Problems {
			var fe *stacks.FieldError
			if !errors.As(p, &fe) || fe.Problem != "is not set" {
				continue
			}
			k := strings.TrimPrefix(fe.Key, stacks.Namespace+":")
			if !slices.Contains(stacks.SecretKeys, k) {
				continue
			}
			v := FakeSecret(k)
			if k == stacks.SecretSSHPrivateKey {
				v = newSSHKey(t)
			}
			src.Set(k, v, true)
			set++
		}
		if set == 0 {
			break
		}
	}
	return src
}

// mocks presets what the program reads back from its own steps: the MicroCeph export and the
// first master's kubeconfig.
func mocks(preview bool) *mocktest.Mocks {
	m := fixtures.ProgramMocks()
	m.StdoutBySuffix["-add"] = "pm4ml-test-only-microceph-join-token\n"
	if preview {
		// In a first preview every command's stdout is unknown (the mock monitor drops unknown
		// values; the SDK treats a missing output of a dry run as unknown). The MicroCeph export
		// and join tokens and the kubeconfig stay known: they reach other steps as secret stdin, and the mock
		// monitor cannot carry an unknown secret input ("malformed RPC secret").
		unknownStdout := resource.PropertyMap{"stdout": resource.MakeComputed(resource.NewStringProperty(""))}
		m.Outputs = map[string]resource.PropertyMap{"command:remote:Command": unknownStdout, "command:local:Command": unknownStdout}
	}
	return m
}

// resolved is one component's resolved outputs.
type resolved struct {
	urn   string
	props property.Map
}

// Build runs the program for a shipped stack and returns the resources a stack policy receives.
func Build(t testing.TB, stack string, o Options) *Result {
	t.Helper()
	src := Source(t, stack)
	if o.Config != nil {
		o.Config(src)
	}
	cfgMap, secretKeys := src.PulumiConfig(func(k string) string { v, _ := src.Get(k); return v })
	m := mocks(o.Preview)
	res := &Result{Mocks: m}
	var comps []resolved
	run := func(ctx *pulumi.Context) error {
		cfg, err := stacks.Load(stacks.PulumiSource{Ctx: ctx})
		if err != nil {
			return err
		}
		sec := stacks.ReadSecrets(ctx)
		st, err := stacks.Build(ctx, cfg, sec)
		if err != nil {
			return err
		}
		res.Stack = st
		extra, err := complete(ctx, cfg, sec, st)
		if err != nil {
			return err
		}
		if o.Extra != nil {
			if err := o.Extra(ctx, st); err != nil {
				return err
			}
		}
		for _, c := range StackComponents(append([]any{st}, extra...)...) {
			r, err := resolve(ctx, c)
			if err != nil {
				return err
			}
			comps = append(comps, r)
		}
		return nil
	}
	b, err := json.Marshal(cfgMap)
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := json.Marshal(secretKeys)
	t.Setenv(pulumi.EnvConfig, string(b))
	t.Setenv("PULUMI_CONFIG_SECRET_KEYS", string(keys))
	opts := []pulumi.RunOption{pulumi.WithMocks(mocktest.Project, mocktest.Stack, m)}
	if o.Preview {
		opts = append(opts, func(ri *pulumi.RunInfo) { ri.DryRun = true })
	}
	if err := pulumi.RunErr(run, opts...); err != nil {
		t.Fatalf("program failed for stack %s: %v", stack, err)
	}
	res.Resources = analyzerResources(t, m, comps)
	return res
}

// complete registers what Build does not register yet: the Facts component and the HAProxy
// load balancer, with the arguments Build is to give them.
func complete(ctx *pulumi.Context, cfg *stacks.Config, sec stacks.Secrets, st *stacks.Stack) ([]any, error) {
	var hasFacts, hasLB bool
	for _, c := range StackComponents(st) {
		switch c.Resource.(type) {
		case *stacks.Facts:
			hasFacts = true
		case *haproxy.LoadBalancer:
			hasLB = true
		}
	}
	var out []any
	if !hasFacts {
		f, err := stacks.NewFacts(ctx, stacks.FactsName, cfg)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	if !hasLB {
		var lbs []hosts.Host
		after := map[string]pulumi.Resource{}
		for i, h := range st.Hosts.Hosts {
			if h.Roles.Has(hosts.RoleHAProxy) {
				lbs = append(lbs, h)
				after[h.Name] = st.Prep[i].Ready
			}
		}
		args := &haproxy.Args{Plan: cfg.HAProxyPlan(), Hosts: lbs, After: after, User: cfg.SSH.User}
		if cfg.HAProxy.StatsEnabled {
			args.StatsPassword = sec.HAProxyStatsPass
		}
		lb, err := haproxy.New(ctx, "haproxy", args)
		if err != nil {
			return nil, err
		}
		out = append(out, lb)
	}
	return out, nil
}

// resolve awaits a component's URN and outputs (inside the program run).
func resolve(ctx *pulumi.Context, c ComponentOutputs) (resolved, error) {
	u, err := internals.UnsafeAwaitOutput(ctx.Context(), c.Resource.URN())
	if err != nil {
		return resolved{}, err
	}
	r := resolved{urn: string(u.Value.(pulumi.URN))}
	props := map[string]property.Value{}
	for k, o := range c.Outputs {
		v, err := internals.UnsafeAwaitOutput(ctx.Context(), o)
		if err != nil {
			return resolved{}, fmt.Errorf("%s output %s: %w", r.urn, k, err)
		}
		if !v.Known {
			props[k] = property.New(property.Computed).WithSecret(v.Secret)
			continue
		}
		pv, err := toProperty(v.Value)
		if err != nil {
			return resolved{}, fmt.Errorf("%s output %s: %w", r.urn, k, err)
		}
		props[k] = pv.WithSecret(v.Secret)
	}
	r.props = property.NewMap(props)
	return r, nil
}

// toProperty converts a resolved Go value (strings, numbers, bools, slices, maps) to a property
// value, through JSON as the engine's wire format would.
func toProperty(v any) (property.Value, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return property.Value{}, err
	}
	var plain any
	if err := json.Unmarshal(b, &plain); err != nil {
		return property.Value{}, err
	}
	return resource.FromResourcePropertyValue(resource.NewPropertyValue(plain)), nil
}

// analyzerResources builds what AnalyzeStack receives, in registration order.
func analyzerResources(t testing.TB, m *mocktest.Mocks, comps []resolved) []policyx.AnalyzerResource {
	t.Helper()
	byURN := map[string]property.Map{}
	for _, c := range comps {
		byURN[c.urn] = c.props
	}
	var out []policyx.AnalyzerResource
	for _, r := range m.Resources {
		ar := policyx.AnalyzerResource{Type: r.Type, Name: r.Name, URN: r.URN, Parent: r.Parent, Dependencies: r.Deps}
		if r.Custom {
			ar.Properties = resource.FromResourcePropertyMap(r.Inputs)
		} else if p, ok := byURN[r.URN]; ok {
			ar.Properties = p
		} else {
			ar.Properties = property.NewMap(nil)
		}
		out = append(out, ar)
		if r.Type == "kubernetes:yaml/v2:ConfigGroup" {
			out = append(out, expandConfigGroup(t, r)...)
		}
	}
	for _, c := range comps {
		found := false
		for _, r := range m.Resources {
			found = found || r.URN == c.urn
		}
		if !found {
			t.Fatalf("component %s was resolved but never recorded (URN scheme of internal/mocktest out of date?)", c.urn)
		}
	}
	return out
}

// expandConfigGroup turns a yaml/v2 ConfigGroup's YAML into the child resources the provider
// registers for it.
func expandConfigGroup(t testing.TB, g mocktest.Resource) []policyx.AnalyzerResource {
	t.Helper()
	text := mocktest.String(g.Inputs, "yaml")
	dec := yaml.NewDecoder(strings.NewReader(text))
	var out []policyx.AnalyzerResource
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("ConfigGroup %s: %v", g.Name, err)
		}
		if obj == nil {
			continue
		}
		av, _ := obj["apiVersion"].(string)
		k, _ := obj["kind"].(string)
		if !strings.Contains(av, "/") {
			av = "core/" + av
		}
		md, _ := obj["metadata"].(map[string]any)
		name, _ := md["name"].(string)
		if ns, _ := md["namespace"].(string); ns != "" {
			name = ns + "/" + name
		}
		pv, err := toProperty(obj)
		if err != nil {
			t.Fatal(err)
		}
		typ := "kubernetes:" + av + ":" + k
		out = append(out, policyx.AnalyzerResource{
			Type: typ, Name: name, Parent: g.URN, Properties: pv.AsMap(),
			URN: fmt.Sprintf("urn:pulumi:%s::%s::%s$%s::%s", mocktest.Stack, mocktest.Project, g.Type, typ, name),
		})
	}
	return out
}

// Clone copies a resource list (properties are immutable values; the slice is new).
func Clone(rs []policyx.AnalyzerResource) []policyx.AnalyzerResource {
	return append([]policyx.AnalyzerResource(nil), rs...)
}

// Find returns the index of the resource with the type token and name; it fails the test when
// there is none.
func Find(t testing.TB, rs []policyx.AnalyzerResource, typ, name string) int {
	t.Helper()
	for i, r := range rs {
		if r.Type == typ && r.Name == name {
			return i
		}
	}
	t.Fatalf("no resource %s %q", typ, name)
	return -1
}

// Get reads the property at a path of map keys and list indexes ("0", "1", ...).
func Get(m property.Map, path ...string) property.Value {
	v := property.New(m)
	for _, p := range path {
		switch {
		case v.IsMap():
			v = v.AsMap().Get(p)
		case v.IsArray():
			i, err := strconv.Atoi(p)
			if err != nil || i >= v.AsArray().Len() {
				return property.Value{}
			}
			v = v.AsArray().Get(i)
		default:
			return property.Value{}
		}
	}
	return v
}

// Set returns m with the value at path replaced (maps are created on the way; list elements
// must exist). A secret container keeps its secretness.
func Set(t testing.TB, m property.Map, value property.Value, path ...string) property.Map {
	t.Helper()
	return setIn(t, property.New(m), value, path).AsMap()
}

func setIn(t testing.TB, v property.Value, value property.Value, path []string) property.Value {
	t.Helper()
	if len(path) == 0 {
		return value
	}
	secret := v.Secret()
	switch {
	case v.IsArray():
		i, err := strconv.Atoi(path[0])
		if err != nil || i >= v.AsArray().Len() {
			t.Fatalf("no list element %q", path[0])
		}
		s := v.AsArray().AsSlice()
		s[i] = setIn(t, s[i], value, path[1:])
		return property.New(s).WithSecret(secret)
	case v.IsMap() || v.IsNull():
		m := map[string]property.Value{}
		if v.IsMap() {
			m = v.AsMap().AsMap()
		}
		m[path[0]] = setIn(t, m[path[0]], value, path[1:])
		return property.New(m).WithSecret(secret)
	}
	t.Fatalf("cannot set %v below a %v", path, v)
	return v
}

// Value converts a plain Go value (as JSON would carry it) into a property value.
func Value(t testing.TB, v any) property.Value {
	t.Helper()
	pv, err := toProperty(v)
	if err != nil {
		t.Fatal(err)
	}
	return pv
}

// Computed is an unknown value, as a preview shows values that depend on other resources.
func Computed() property.Value { return property.New(property.Computed) }
