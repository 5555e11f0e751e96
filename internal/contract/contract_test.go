package contract

import (
	"maps"
	"slices"
	"testing"

	"github.com/pm4ml/pm4ml-onprem/components/remotecmd"
)

func TestVerbs(t *testing.T) {
	for _, c := range []struct {
		name, body string
		want       []string
	}{
		{"tools in command position", "x=$(microceph.ceph health 2>&1)\nmut microk8s kubectl get nodes\nif snap list microceph; then :; fi", []string{"microceph.ceph health", "microk8s kubectl get nodes", "snap list microceph"}},
		{"messages and comments do not run", "say \"run microk8s remove-node x\" # snap refresh microk8s", nil},
		{"the library alone runs nothing", "", nil},
		{"a library function runs its tools when called", "t=$(snap_tracking microceph)\nsnap_hold microceph", []string{"snap list", "snap refresh"}},
		{"a mention in a comment is no call", "# snap_hold microceph", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := slices.Sorted(maps.Keys(Verbs(remotecmd.Wrap("s", c.body))))
			if !slices.Equal(got, c.want) {
				t.Errorf("Verbs = %q, want %q", got, c.want)
			}
		})
	}
	if len(libFuncs) < 2 {
		t.Fatalf("library functions running a tool: %d, want snap_tracking and snap_hold at least", len(libFuncs))
	}
}
