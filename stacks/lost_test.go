package stacks

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// editHosts rewrites pm4ml:hosts of src: f gets the entries as JSON objects.
func editHosts(t testing.TB, src *FileSource, f func([]map[string]any) []map[string]any) {
	t.Helper()
	raw, _ := src.Get("hosts")
	var hs []map[string]any
	if err := json.Unmarshal([]byte(raw), &hs); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(f(hs))
	if err != nil {
		t.Fatal(err)
	}
	src.Set("hosts", string(b), false)
}

// markLost sets lost: true on the named host and, when replacement is set, adds a host with the
// same roles under that name and address.
func markLost(t testing.TB, src *FileSource, name, replacement, address string) {
	t.Helper()
	editHosts(t, src, func(hs []map[string]any) []map[string]any {
		for _, h := range hs {
			if h["name"] == name {
				h["lost"] = true
				if replacement != "" {
					r := map[string]any{"name": replacement, "address": address, "roles": h["roles"]}
					if d, ok := h["cephDisks"]; ok {
						r["cephDisks"] = d
					}
					hs = append(hs, r)
				}
				return hs
			}
		}
		t.Fatalf("no host %s", name)
		return nil
	})
}

// TestLostHostValidation: a lost host does not count towards the role minimums (prod refuses a
// lost worker without a replacement, naming the count and the fix), and a live host may take its
// address (the lost one is never reached).
func TestLostHostValidation(t *testing.T) {
	src := stackSource(t, "prod")
	markLost(t, src, "prod-worker-3", "", "")
	_, err := Load(src)
	if err == nil || !strings.Contains(err.Error(), "has 2 worker(s); prod needs at least 3 (the 1 lost host(s) do not count)") || !strings.Contains(err.Error(), "a lost host is replaced by a new entry") {
		t.Fatalf("a lost worker without replacement: %v, want the worker count refused", err)
	}
	src = stackSource(t, "prod")
	markLost(t, src, "prod-worker-3", "prod-worker-4", "10.10.2.23")
	if _, err := Load(src); err != nil {
		t.Fatalf("a lost worker replaced at its address: %v", err)
	}
	src = stackSource(t, "prod")
	markLost(t, src, "prod-worker-3", "prod-worker-4", "10.10.2.22") // a live host's address
	if _, err := Load(src); err == nil || !strings.Contains(err.Error(), "10.10.2.22 is also the address of hosts[") {
		t.Fatalf("two live hosts on one address: %v, want refused", err)
	}
}

var lostMembership = regexp.MustCompile(`^(microk8s-(prod-worker-3|prod-master-1)-(join|token|drain)|microceph-prod-storage-1-(member|disks))$`)

// TestDeployLostHost: prod with a lost worker, a lost master (the first), a lost storage host (the
// bootstrap one) and a lost HAProxy host, each replaced. Nothing of theirs runs anywhere: no
// configuration of another host names them; the steps whose deletes would reach them (MicroK8s
// join on the host, token and drain on a master; MicroCeph member and disks) are registered
// frozen (every input ignored) and retained; each node is removed from the first live master
// after every master's join and before finalize, the storage host from the next storage host;
// their other steps are not registered.
func TestDeployLostHost(t *testing.T) {
	src := stackSource(t, "prod")
	markLost(t, src, "prod-worker-3", "prod-worker-4", "10.10.2.24")
	markLost(t, src, "prod-master-1", "prod-master-4", "10.10.1.14")
	markLost(t, src, "prod-storage-1", "prod-storage-4", "10.10.3.34")
	markLost(t, src, "prod-lb-1", "prod-lb-3", "10.10.0.13")
	m, b := runBuild(t, src)
	for _, lost := range []struct {
		name, addr string
		frozen     []string
	}{
		{"prod-worker-3", "10.10.2.23", []string{"microk8s-prod-worker-3-join", "microk8s-prod-worker-3-token", "microk8s-prod-worker-3-drain"}},
		{"prod-master-1", "10.10.1.11", []string{"microk8s-prod-master-1-join", "microk8s-prod-master-1-token", "microk8s-prod-master-1-drain"}},
		{"prod-storage-1", "10.10.3.31", []string{"microceph-prod-storage-1-member", "microceph-prod-storage-1-disks"}},
		{"prod-lb-1", "10.10.0.11", nil},
	} {
		if _, ok := b.Addresses[lost.name]; ok {
			t.Errorf("hosts output lists %s", lost.name)
		}
		var frozen []string
		for _, r := range m.Resources {
			if !r.Custom {
				continue
			}
			switch {
			case slices.Contains(lost.frozen, r.Name):
				if !r.Frozen() {
					t.Errorf("%s: ignoreChanges %v retainOnDelete %v, want frozen and retained", r.Name, r.IgnoreChanges, r.RetainOnDelete)
				}
				frozen = append(frozen, r.Name)
				continue
			case strings.HasSuffix(r.Name, "-"+lost.name+"-remove"):
				continue
			}
			if (r.RetainOnDelete || slices.Contains(r.IgnoreChanges, "*")) && !lostMembership.MatchString(r.Name) {
				t.Errorf("%s is frozen or retained but is no lost host's step", r.Name)
			}
			if strings.Contains(r.Name, lost.name) {
				t.Errorf("%s: a step of the lost host %s is registered", r.Name, lost.name)
			}
			in := resource.NewObjectProperty(r.Inputs)
			plainStrings(in, r.Name, func(path, s string) {
				if strings.Contains(s, lost.name) || strings.Contains(s, lost.addr+"\n") || strings.Contains(s, lost.addr+" ") || strings.Contains(s, lost.addr+",") || strings.Contains(s, lost.addr+":") {
					t.Errorf("%s: %s names the lost host %s", r.Name, path, lost.name)
				}
			})
		}
		if len(frozen) != len(lost.frozen) {
			t.Errorf("%s: frozen steps %v, want %v", lost.name, frozen, lost.frozen)
		}
	}
	st := m.Named(t, "microceph-prod-storage-1-remove")
	checkConnection(t, st, "10.10.3.32", true)
	if !m.DependsOnTransitively(t, "microceph-prod-storage-1-remove", "microceph-prod-storage-4-member") || !m.DependsOn(t, "microceph-pool", "microceph-prod-storage-1-remove") {
		t.Errorf("the storage host's removal is not between the last join and the pool")
	}
	// Removals run on the first live master, after the masters joined, before finalize.
	for _, n := range []string{"prod-worker-3", "prod-master-1"} {
		rm := m.Named(t, "microk8s-"+n+"-remove")
		checkConnection(t, rm, "10.10.1.12", true)
		if _, body := scriptOf(t, rm); !strings.Contains(body, "microk8s remove-node \"$node\" --force") || !strings.Contains(body, "node='"+n+"'") {
			t.Errorf("%s's removal does not remove-node --force it:\n%s", n, body)
		}
		for _, master := range []string{"prod-master-2", "prod-master-3", "prod-master-4"} {
			if !m.DependsOnTransitively(t, "microk8s-"+n+"-remove", "microk8s-"+master+"-join") {
				t.Errorf("%s's removal does not wait for %s's join", n, master)
			}
		}
		if !m.DependsOn(t, "microk8s-finalize", "microk8s-"+n+"-remove") {
			t.Errorf("finalize does not wait for %s's removal", n)
		}
	}
	// The render command writes the removals the program runs, on the first live master.
	cfg, err := LoadForRender(src)
	if err != nil {
		t.Fatal(err)
	}
	arts, err := Render(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"prod-worker-3", "prod-master-1"} {
		_, body := scriptOf(t, m.Named(t, "microk8s-"+n+"-remove"))
		if !slices.ContainsFunc(arts, func(a Artifact) bool { return strings.HasPrefix(a.Path, "prod-master-2/") && a.Content == body }) {
			t.Errorf("the render has no file on prod-master-2 with %s's removal as the program runs it", n)
		}
	}
}
