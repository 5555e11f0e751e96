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
func editHosts(t *testing.T, src *FileSource, f func([]map[string]any) []map[string]any) {
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
func markLost(t *testing.T, src *FileSource, name, replacement, address string) {
	t.Helper()
	editHosts(t, src, func(hs []map[string]any) []map[string]any {
		for _, h := range hs {
			if h["name"] == name {
				h["lost"] = true
				if replacement != "" {
					hs = append(hs, map[string]any{"name": replacement, "address": address, "roles": h["roles"]})
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
	if err == nil || !strings.Contains(err.Error(), "has 2 worker(s); prod needs at least 3") {
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

var lostMembership = regexp.MustCompile(`^microk8s-(prod-worker-3|prod-master-1)-(join|token|drain)$`)

// TestDeployLostHost: prod with a lost worker and a lost master, each replaced. Nothing of theirs
// runs anywhere: no configuration of another host names them; their MicroK8s membership steps
// (join on the host, token and drain on a master) are registered frozen (every input ignored) and
// retained; each is removed from the first live master (a lost first master: from the next one)
// after every master's join and before finalize; their other steps are not registered.
func TestDeployLostHost(t *testing.T) {
	src := stackSource(t, "prod")
	markLost(t, src, "prod-worker-3", "prod-worker-4", "10.10.2.24")
	markLost(t, src, "prod-master-1", "prod-master-4", "10.10.1.14")
	m, b := runBuild(t, src)
	for _, lost := range []struct{ name, addr string }{{"prod-worker-3", "10.10.2.23"}, {"prod-master-1", "10.10.1.11"}} {
		if _, ok := b.Addresses[lost.name]; ok {
			t.Errorf("hosts output lists %s", lost.name)
		}
		frozen := map[string]bool{}
		for _, r := range m.Resources {
			if !r.Custom {
				continue
			}
			switch r.Name {
			case "microk8s-" + lost.name + "-join", "microk8s-" + lost.name + "-token", "microk8s-" + lost.name + "-drain":
				if !slices.Equal(r.IgnoreChanges, []string{"*"}) || !r.RetainOnDelete {
					t.Errorf("%s: ignoreChanges %v retainOnDelete %v, want frozen and retained", r.Name, r.IgnoreChanges, r.RetainOnDelete)
				}
				frozen[r.Name] = true
				continue
			case "microk8s-" + lost.name + "-remove":
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
		if len(frozen) != 3 {
			t.Errorf("%s: frozen steps %v, want its join, token and drain", lost.name, frozen)
		}
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
}
