package stacktest

// The registered outputs of every component of a built Stack as Pulumi values (test-only
// reflection): the mock monitor does not pass RegisterResourceOutputs on, so the harness reads
// them from the Go structs Build returns.

import (
	"reflect"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/pm4ml/pm4ml-onprem/components/hostprep"
	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/components/microk8s"
	"github.com/pm4ml/pm4ml-onprem/stacks"
)

// ComponentOutputs is one component and the outputs it registers (RegisterResourceOutputs), as
// Pulumi values.
type ComponentOutputs struct {
	Resource pulumi.ComponentResource
	Outputs  map[string]pulumi.Output
}

// StackComponents lists every component reachable from the roots (a built *Stack, and any other
// component or struct holding components), each once, in a stable walk order, with its registered
// outputs: every exported field tagged `pulumi:"<name>"` that holds an Output, plus the entries the
// components register without such a field (hostprep: host, address, roles; microk8s:
// environment), taken from the Stack the way Build hands them to the components. Under mocks the
// engine never sees RegisterResourceOutputs, so tests resolve these to build what the engine's
// AnalyzeStack receives for component resources.
func StackComponents(roots ...any) []ComponentOutputs {
	w := &walker{seen: map[uintptr]bool{}, prepHost: map[*hostprep.HostPrep]hosts.Host{}}
	for _, r := range roots {
		if st, ok := r.(*stacks.Stack); ok && st != nil {
			if st.Config != nil {
				w.env, w.hasEnv = string(st.Config.Environment), true
			}
			if st.Hosts != nil {
				for i, p := range st.Prep {
					if i < len(st.Hosts.Hosts) {
						w.prepHost[p] = st.Hosts.Hosts[i]
					}
				}
			}
		}
	}
	for _, r := range roots {
		w.walk(reflect.ValueOf(r))
	}
	return w.out
}

const modulePath = "github.com/pm4ml/pm4ml-onprem/"

var componentType = reflect.TypeFor[pulumi.ComponentResource]()
var outputType = reflect.TypeFor[pulumi.Output]()

type walker struct {
	seen     map[uintptr]bool
	out      []ComponentOutputs
	prepHost map[*hostprep.HostPrep]hosts.Host
	env      string
	hasEnv   bool
}

func ours(t reflect.Type) bool { return strings.HasPrefix(t.PkgPath(), modulePath) }

func (w *walker) walk(v reflect.Value) {
	switch v.Kind() {
	case reflect.Interface:
		if !v.IsNil() {
			w.walk(v.Elem())
		}
	case reflect.Pointer:
		if v.IsNil() || v.Elem().Kind() != reflect.Struct || !ours(v.Elem().Type()) {
			return
		}
		if w.seen[v.Pointer()] {
			return
		}
		w.seen[v.Pointer()] = true
		if v.Type().Implements(componentType) {
			w.component(v)
		}
		w.walk(v.Elem())
	case reflect.Struct:
		if !ours(v.Type()) {
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				w.walk(v.Field(i))
			}
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			w.walk(v.Index(i))
		}
	case reflect.Map:
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		for _, k := range keys {
			w.walk(v.MapIndex(k))
		}
	}
}

func (w *walker) component(v reflect.Value) {
	c := ComponentOutputs{Resource: v.Interface().(pulumi.ComponentResource), Outputs: map[string]pulumi.Output{}}
	s := v.Elem()
	for i := 0; i < s.NumField(); i++ {
		f := s.Type().Field(i)
		name, ok := f.Tag.Lookup("pulumi")
		if !ok || !f.IsExported() || !f.Type.Implements(outputType) {
			continue
		}
		name, _, _ = strings.Cut(name, ",")
		if fv := s.Field(i); !fv.IsZero() { // an unset output (nil state) is not registered
			c.Outputs[name] = fv.Interface().(pulumi.Output)
		}
	}
	switch r := c.Resource.(type) {
	case *hostprep.HostPrep:
		if h, ok := w.prepHost[r]; ok {
			roles := make([]string, len(h.Roles))
			for i, x := range h.Roles {
				roles[i] = string(x)
			}
			c.Outputs["host"] = pulumi.String(h.Name).ToStringOutput()
			c.Outputs["address"] = pulumi.String(h.Address).ToStringOutput()
			c.Outputs["roles"] = pulumi.ToStringArray(roles).ToStringArrayOutput()
		}
	case *microk8s.Cluster:
		if w.hasEnv {
			c.Outputs["environment"] = pulumi.String(w.env).ToStringOutput()
		}
	}
	w.out = append(w.out, c)
}
