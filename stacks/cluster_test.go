package stacks

import (
	"strings"
	"testing"
)

// The cluster layer is wired onto the prepared hosts: every MicroK8s/MicroCeph install waits for
// its host's firewall step (the last preparation step), the storage classes wait for both
// clusters, and the exported kubeconfig is a secret.
func TestDeployClusterLayerWiring(t *testing.T) {
	for _, stack := range stacksUnderTest {
		t.Run(stack, func(t *testing.T) {
			m, src := deployStack(t, stack)
			cfg, err := Load(src)
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range cfg.kubernetesNodes() {
				install := "microk8s-" + h.Name + "-install"
				if !m.DependsOn(t, install, "prep-"+h.Name+"-firewall") {
					t.Errorf("%s does not wait for %s's firewall step", install, h.Name)
				}
			}
			for _, h := range cfg.MicroCephPlan().Nodes {
				install := "microceph-" + h.Name + "-install"
				if !m.DependsOnTransitively(t, install, "prep-"+h.Name+"-firewall") {
					t.Errorf("%s does not wait for %s's firewall step", install, h.Name)
				}
			}
			for _, h := range cfg.HostsWith("haproxy") {
				if !m.DependsOnTransitively(t, "haproxy-"+h.Name+"-config", "prep-"+h.Name+"-firewall") {
					t.Errorf("HAProxy on %s does not wait for its firewall step", h.Name)
				}
				cfgStep := m.Named(t, "haproxy-"+h.Name+"-config")
				for _, w := range cfg.HostsWith("worker") {
					if !strings.Contains(cfgStep.Inputs["create"].String(), "\n"+w.Name+" "+w.Address+"\n") {
						t.Errorf("HAProxy config on %s lacks worker %s", h.Name, w.Address)
					}
				}
			}
			if !m.DependsOnTransitively(t, "storage-rook-ceph", "microk8s-finalize") ||
				!m.DependsOnTransitively(t, "storage-rook-ceph", "microceph-export") {
				t.Error("storage does not wait for both MicroK8s and MicroCeph")
			}
			// masters join one at a time: each further master's token waits for the previous join
			k8s := cfg.MicroK8sPlan()
			var masters []string
			for _, n := range k8s.Nodes {
				if n.Master() {
					masters = append(masters, n.Name)
				}
			}
			for i := 2; i < len(masters); i++ {
				if !m.DependsOnTransitively(t, "microk8s-"+masters[i]+"-token", "microk8s-"+masters[i-1]+"-join") {
					t.Errorf("master %s joins before %s has joined", masters[i], masters[i-1])
				}
			}
			// no resource outside the top-level components lacks a parent
			for _, r := range m.Resources {
				if r.Custom && r.Parent == "" {
					t.Errorf("%s %s has no parent", r.Type, r.Name)
				}
			}
			// secrets: the SSH key (the join-token seed) never reaches any plain input
			key, _ := src.Get(SecretSSHPrivateKey)
			for _, r := range m.Resources {
				for k, v := range r.Inputs {
					if !v.ContainsSecrets() && strings.Contains(v.String(), strings.TrimSpace(key)[:40]) {
						t.Errorf("%s.%s carries the SSH key in plain text", r.Name, k)
					}
				}
			}
		})
	}
}

// The render output has every layer's files for every host it concerns.
func TestRenderIncludesClusterLayer(t *testing.T) {
	for _, stack := range stacksUnderTest {
		cfg, files := renderStack(t, stack)
		first := cfg.firstMaster().Name
		for _, p := range []string{first + "/microk8s/10-install.sh", first + "/microk8s/90-finalize.sh", first + "/storage/20-connect.sh",
			cfg.MicroCephPlan().Nodes[0].Name + "/microceph/10-install.sh", "MANIFEST.md"} {
			if _, ok := files[p]; !ok {
				t.Errorf("%s: render lacks %s", stack, p)
			}
		}
	}
}
