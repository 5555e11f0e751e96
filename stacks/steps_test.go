package stacks

import (
	"github.com/pm4ml/pm4ml-onprem/components/microk8s"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/pm4ml/pm4ml-onprem/components/remotecmd"
	"github.com/pm4ml/pm4ml-onprem/internal/mocktest"
)

// Steps renders with the same renderers as Render: every step's script is one of the render
// command's files, on the step's host.
func TestStepsAreTheRenderedScripts(t *testing.T) {
	for _, stack := range []string{"prod", "stg"} {
		src, err := ReadStackFile("../Pulumi." + stack + ".yaml")
		if err != nil {
			t.Fatal(err)
		}
		c, err := LoadForRender(src)
		if err != nil {
			t.Fatal(err)
		}
		arts, err := Render(c)
		if err != nil {
			t.Fatal(err)
		}
		byHost := map[string]map[string]bool{}
		for _, a := range arts {
			host, _, _ := strings.Cut(a.Path, "/")
			if byHost[host] == nil {
				byHost[host] = map[string]bool{}
			}
			byHost[host][a.Content] = true
		}
		steps, err := Steps(c)
		if err != nil {
			t.Fatal(err)
		}
		if len(steps) < 4*len(c.Hosts) {
			t.Fatalf("%s: only %d steps for %d hosts", stack, len(steps), len(c.Hosts))
		}
		outputs := 0
		for i, s := range steps {
			if !byHost[s.Host][s.Script.Body] {
				t.Errorf("%s: step %s is not a rendered file of %s", stack, s.ID(), s.Host)
			}
			if s.Address == "" {
				t.Errorf("%s: step %s has no address", stack, s.ID())
			}
			if s.Output {
				outputs++
			}
			if s.Script.Secret != (s.Input != InputNone) && !(s.Output || strings.HasPrefix(s.Script.Step, "microceph-add-")) {
				t.Errorf("%s: step %s secret=%v but input %d", stack, s.ID(), s.Script.Secret, s.Input)
			}
			// dependency order: a host's preparation before anything else on it
			if s.Component != "hostprep" {
				for _, p := range steps[i:] {
					if p.Component == "hostprep" && p.Host == s.Host {
						t.Errorf("%s: %s before %s", stack, s.ID(), p.ID())
					}
				}
			}
		}
		k, err := microk8s.Render(c.MicroK8sPlan())
		if err != nil {
			t.Fatal(err)
		}
		if want := len(k.Masters()) + 1; outputs != want {
			t.Errorf("%s: %d output steps, want %d: every master's kubeconfig and the Ceph export", stack, outputs, want)
		}
	}
}

// Steps are exactly the remote commands Deploy registers (same host, same create line), and
// their order is a dependency order of the Pulumi graph: no step depends on a later one.
func TestStepsAreWhatDeployRunsInDependencyOrder(t *testing.T) {
	for _, stack := range stacksUnderTest {
		t.Run(stack, func(t *testing.T) {
			m, src := deployStack(t, stack)
			c, err := LoadForRender(src)
			if err != nil {
				t.Fatal(err)
			}
			steps, err := Steps(c)
			if err != nil {
				t.Fatal(err)
			}
			byKey := map[string]string{} // address + create line -> resource name
			cmds := m.ByType("command:remote:Command")
			for _, r := range cmds {
				host := prop(resource.NewObjectProperty(r.Inputs), "connection", "host")
				if !host.IsString() {
					t.Fatalf("%s: no connection.host", r.Name)
				}
				byKey[host.StringValue()+" "+mocktest.String(r.Inputs, "create")] = r.Name
			}
			names := make([]string, len(steps))
			for i, s := range steps {
				n, ok := byKey[s.Address+" "+remotecmd.Invocation(c.SSH.User, s.Script.Step, s.Script.Body)]
				if !ok {
					t.Fatalf("step %s is not a remote command of the program", s.ID())
				}
				names[i] = n
			}
			// every remote command is a step, but the verification's read-only checks (guide 6.6:
			// HAProxy active; the haproxy steps' checks cover it)
			for _, r := range cmds {
				if !slices.Contains(names, r.Name) && !strings.HasPrefix(r.Name, "verify-") {
					t.Errorf("remote command %s is not a step", r.Name)
				}
			}
			for i := range names {
				for j := i + 1; j < len(names); j++ {
					if m.DependsOnTransitively(t, names[i], names[j]) {
						t.Errorf("%s comes before %s, which it depends on", steps[i].ID(), steps[j].ID())
					}
				}
			}
		})
	}
}
