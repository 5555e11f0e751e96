// Package mocktest runs the Pulumi program (or a part of it) under pulumi.WithMocks and records
// every registered resource with its parent, dependencies, inputs and options, so that unit tests
// can assert the resource graph rather than just "no error".
package mocktest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Resource is one registered resource.
type Resource struct {
	Type   string
	Name   string
	URN    string
	Parent string // URN; "" for the stack's direct children
	Custom bool
	// Deps are the URNs the resource depends on (DependsOn and input dependencies).
	Deps                    []string
	Inputs                  resource.PropertyMap
	AdditionalSecretOutputs []string
	Protect                 bool
	Provider                string
	Version                 string
	PluginDownloadURL       string
	DeletedWith             string
	// DeleteBeforeReplace records pulumi.DeleteBeforeReplace(true).
	DeleteBeforeReplace bool
	// IgnoreChanges records pulumi.IgnoreChanges.
	IgnoreChanges []string
	// RetainOnDelete records pulumi.RetainOnDelete(true).
	RetainOnDelete bool
}

// Frozen reports whether the resource was registered frozen, as remotecmd.Run registers a step on
// or about a lost machine: every input ignored and retained on delete.
func (r Resource) Frozen() bool {
	return r.RetainOnDelete && len(r.IgnoreChanges) == 1 && r.IgnoreChanges[0] == "*"
}

// Mocks records resources; it implements pulumi.MockResourceMonitor.
type Mocks struct {
	mu        sync.Mutex
	Resources []Resource
	// Outputs lets a test add outputs per type token (merged over the inputs).
	Outputs map[string]resource.PropertyMap
	// StdoutBySuffix gives pulumi-command resources whose name ends with a key that stdout
	// (e.g. a step whose output the component reads, such as an export or a kubeconfig).
	StdoutBySuffix map[string]string
}

// NewResource records the registration and echoes inputs as outputs.
func (m *Mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	rpc := args.RegisterRPC
	r := Resource{Type: args.TypeToken, Name: args.Name, Custom: args.Custom, Inputs: args.Inputs, Provider: args.Provider}
	if rpc != nil {
		r.Parent = rpc.GetParent()
		r.Deps = append(r.Deps, rpc.GetDependencies()...)
		for _, pd := range rpc.GetPropertyDependencies() {
			r.Deps = append(r.Deps, pd.GetUrns()...)
		}
		slices.Sort(r.Deps)
		r.Deps = slices.Compact(r.Deps)
		r.AdditionalSecretOutputs = rpc.GetAdditionalSecretOutputs()
		r.Protect = rpc.GetProtect()
		r.Version = rpc.GetVersion()
		r.PluginDownloadURL = rpc.GetPluginDownloadURL()
		r.DeletedWith = rpc.GetDeletedWith()
		r.DeleteBeforeReplace = rpc.GetDeleteBeforeReplace()
		r.IgnoreChanges = rpc.GetIgnoreChanges()
		r.RetainOnDelete = rpc.GetRetainOnDelete()
		r.URN = urn(rpc.GetParent(), args.TypeToken, args.Name)
	}
	out := args.Inputs.Copy()
	m.mu.Lock()
	m.Resources = append(m.Resources, r)
	for k, v := range m.Outputs[args.TypeToken] {
		out[k] = v
	}
	if strings.HasPrefix(args.TypeToken, "command:") {
		for suffix, stdout := range m.StdoutBySuffix {
			if strings.HasSuffix(args.Name, suffix) {
				out["stdout"] = resource.NewStringProperty(stdout)
			}
		}
	}
	m.mu.Unlock()
	id := ""
	if args.Custom {
		id = args.Name + "-id"
	}
	return id, out, nil
}

// Call answers invokes with an empty result.
func (m *Mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return resource.PropertyMap{}, nil
}

// urn mirrors the mock monitor's URN scheme (project "pm4ml-onprem", stack "test").
func urn(parent, typ, name string) string {
	parentType := ""
	if parent != "" {
		// urn:pulumi:stack::project::a$b$c::name
		parts := strings.Split(parent, "::")
		if len(parts) >= 4 && !strings.HasPrefix(parts[2], "pulumi:pulumi:Stack") {
			parentType = parts[2] + "$"
		}
	}
	return fmt.Sprintf("urn:pulumi:%s::%s::%s%s::%s", Stack, Project, parentType, typ, name)
}

// Project and stack names used by Run.
const (
	Project = "pm4ml-onprem"
	Stack   = "test"
)

// Run runs fn under mocks with the given Pulumi config (full keys, e.g. "pm4ml:hosts", values
// in Pulumi's string form) and secret keys. It returns the recorder and fn's error.
func Run(t testing.TB, config map[string]string, secretKeys []string, fn pulumi.RunFunc) (*Mocks, error) {
	t.Helper()
	m := &Mocks{}
	return m, RunMocks(t, m, config, secretKeys, fn)
}

// RunMocks is Run with a prepared recorder (preset outputs).
func RunMocks(t testing.TB, m *Mocks, config map[string]string, secretKeys []string, fn pulumi.RunFunc) error {
	t.Helper()
	cfg, err := json.Marshal(config)
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := json.Marshal(secretKeys)
	t.Setenv(pulumi.EnvConfig, string(cfg))
	t.Setenv("PULUMI_CONFIG_SECRET_KEYS", string(keys))
	return pulumi.RunErr(fn, pulumi.WithMocks(Project, Stack, m))
}

// ByType lists the resources of a type token, in registration order.
func (m *Mocks) ByType(typ string) []Resource {
	var out []Resource
	for _, r := range m.Resources {
		if r.Type == typ {
			out = append(out, r)
		}
	}
	return out
}

// Named returns the resource with the given logical name; it fails the test when absent.
func (m *Mocks) Named(t testing.TB, name string) Resource {
	t.Helper()
	for _, r := range m.Resources {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no resource named %q (have %d resources)", name, len(m.Resources))
	return Resource{}
}

// Has reports whether a resource with that name exists.
func (m *Mocks) Has(name string) bool {
	return slices.ContainsFunc(m.Resources, func(r Resource) bool { return r.Name == name })
}

// byURN indexes resources.
func (m *Mocks) byURN() map[string]Resource {
	idx := map[string]Resource{}
	for _, r := range m.Resources {
		idx[r.URN] = r
	}
	return idx
}

// DependsOn reports whether resource a depends directly on b (by name).
func (m *Mocks) DependsOn(t testing.TB, a, b string) bool {
	t.Helper()
	return slices.Contains(m.Named(t, a).Deps, m.Named(t, b).URN)
}

// DependsOnTransitively reports whether a reaches b through dependencies (not parents).
func (m *Mocks) DependsOnTransitively(t testing.TB, a, b string) bool {
	t.Helper()
	idx := m.byURN()
	target := m.Named(t, b).URN
	seen := map[string]bool{}
	var walk func(u string) bool
	walk = func(u string) bool {
		if seen[u] {
			return false
		}
		seen[u] = true
		for _, d := range idx[u].Deps {
			if d == target || walk(d) {
				return true
			}
		}
		return false
	}
	return walk(m.Named(t, a).URN)
}

// ParentName is the logical name of r's parent ("" for the stack).
func (m *Mocks) ParentName(r Resource) string {
	if p, ok := m.byURN()[r.Parent]; ok {
		return p.Name
	}
	return ""
}

// ChildrenOf lists resources whose parent is the named resource.
func (m *Mocks) ChildrenOf(t testing.TB, name string) []Resource {
	t.Helper()
	u := m.Named(t, name).URN
	var out []Resource
	for _, r := range m.Resources {
		if r.Parent == u {
			out = append(out, r)
		}
	}
	return out
}

// String renders an input property as a string ("" when absent or not a string; secrets are
// unwrapped).
func String(pm resource.PropertyMap, key string) string {
	v, ok := pm[resource.PropertyKey(key)]
	if !ok {
		return ""
	}
	for v.IsSecret() {
		v = v.SecretValue().Element
	}
	if v.IsString() {
		return v.StringValue()
	}
	return ""
}

// IsSecret reports whether an input property is marked secret.
func IsSecret(pm resource.PropertyMap, key string) bool {
	v, ok := pm[resource.PropertyKey(key)]
	return ok && v.ContainsSecrets()
}
