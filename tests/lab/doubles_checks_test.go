package lab

// Checks of TestDoublesLab against the lab apiserver and the hosts, and the doubles' lint.

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pm4ml/pm4ml-onprem/components/microk8s"
	"github.com/pm4ml/pm4ml-onprem/components/storage"
	"github.com/pm4ml/pm4ml-onprem/internal/testtool"
)

type k8sNode struct {
	Metadata struct {
		Name        string            `json:"name"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
	Spec struct {
		Taints []struct{ Key, Effect string } `json:"taints"`
	} `json:"spec"`
	Status struct {
		Conditions []struct{ Type, Status string }  `json:"conditions"`
		Addresses  []struct{ Type, Address string } `json:"addresses"`
	} `json:"status"`
}

// checkNodes: the three hosts are Ready kwok Nodes with MicroK8s' labels, the role labels
// finalize set, and the control-plane taint on the dedicated master h1 only.
func checkNodes(t *testing.T, l doublesLab) {
	t.Helper()
	out, err := l.kubectl("get", "nodes", "-o", "json")
	if err != nil {
		t.Fatalf("kubectl get nodes: %v\n%s", err, out)
	}
	var list struct{ Items []k8sNode }
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	want := map[string]struct{ master, worker, taint bool }{
		"h1": {true, false, true}, "h2": {true, true, false}, "h3": {false, true, false},
	}
	if len(list.Items) != len(want) {
		t.Errorf("%d nodes, want %d", len(list.Items), len(want))
	}
	for _, n := range list.Items {
		w, ok := want[n.Metadata.Name]
		if !ok {
			t.Errorf("unexpected node %s", n.Metadata.Name)
			continue
		}
		lb := n.Metadata.Labels
		ready := false
		for _, c := range n.Status.Conditions {
			ready = ready || (c.Type == "Ready" && c.Status == "True")
		}
		_, master := lb[microk8s.LabelMaster]
		_, worker := lb[microk8s.LabelWorker]
		taint := false
		for _, tn := range n.Spec.Taints {
			taint = taint || (tn.Key == microk8s.TaintKey && tn.Effect == "NoSchedule")
		}
		plane := "node.kubernetes.io/microk8s-controlplane"
		if !w.master {
			plane = "node.kubernetes.io/microk8s-worker"
		}
		switch {
		case !ready:
			t.Errorf("%s is not Ready: %+v", n.Metadata.Name, n.Status.Conditions)
		case lb["kubernetes.io/hostname"] != n.Metadata.Name || lb["kubernetes.io/os"] != "linux" || lb["kubernetes.io/arch"] != "amd64" || lb[plane] == "":
			t.Errorf("%s labels: %v", n.Metadata.Name, lb)
		case master != w.master || worker != w.worker:
			t.Errorf("%s role labels master=%v worker=%v, want %v %v", n.Metadata.Name, master, worker, w.master, w.worker)
		case taint != w.taint:
			t.Errorf("%s control-plane taint %v, want %v", n.Metadata.Name, taint, w.taint)
		case n.Metadata.Annotations["kwok.x-k8s.io/node"] != "fake":
			t.Errorf("%s is not a kwok node: %v", n.Metadata.Name, n.Metadata.Annotations)
		}
	}
}

// checkStorage: the local class is the only default, the Ceph class is Rook's class renamed
// (Rook's ceph-rbd gone) on the pool, and the CephCluster is Connected.
func checkStorage(t *testing.T, l doublesLab) {
	t.Helper()
	out, err := l.kubectl("get", "storageclass", "-o", "json")
	if err != nil {
		t.Fatalf("kubectl get storageclass: %v\n%s", err, out)
	}
	var list struct {
		Items []struct {
			Metadata struct {
				Name        string            `json:"name"`
				Annotations map[string]string `json:"annotations"`
			} `json:"metadata"`
			Provisioner       string            `json:"provisioner"`
			Parameters        map[string]string `json:"parameters"`
			ReclaimPolicy     string            `json:"reclaimPolicy"`
			VolumeBindingMode string            `json:"volumeBindingMode"`
		}
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range list.Items {
		name, ann := c.Metadata.Name, c.Metadata.Annotations
		seen[name] = true
		def := ann["storageclass.kubernetes.io/is-default-class"]
		switch name {
		case "local-nvme":
			if def != "true" || ann[storage.TierAnnotation] != storage.TierTransactionCritical || c.Provisioner != storage.LocalProvisioner ||
				c.Parameters["pvDir"] != "/var/lib/pm4ml-local" || c.ReclaimPolicy != "Retain" || c.VolumeBindingMode != "WaitForFirstConsumer" {
				t.Errorf("local-nvme: %+v", c)
			}
		case "pm4ml-cold":
			if def != "false" || ann[storage.TierAnnotation] != storage.TierCold || c.Provisioner != storage.RBDProvisioner ||
				c.Parameters["pool"] != "pm4ml-rbd" || c.Parameters["clusterID"] != storage.RookNamespace {
				t.Errorf("pm4ml-cold: %+v", c)
			}
		case "microk8s-hostpath":
			if def != "false" {
				t.Errorf("microk8s-hostpath is still a default class: %v", ann)
			}
		default:
			t.Errorf("unexpected StorageClass %s (Rook's ceph-rbd should be renamed)", name)
		}
	}
	for _, n := range []string{"local-nvme", "pm4ml-cold", "microk8s-hostpath"} {
		if !seen[n] {
			t.Errorf("StorageClass %s missing", n)
		}
	}
	phase, err := l.kubectl("-n", storage.RookNamespace, "get", "cephcluster", storage.RookNamespace, "-o", "jsonpath={.status.phase}")
	if err != nil || phase != "Connected" {
		t.Errorf("CephCluster %s phase %q: %v", storage.RookNamespace, phase, err)
	}
}

// checkContract: a few contract lines the scripts' happy path does not exercise.
func checkContract(t *testing.T, l doublesLab) {
	t.Helper()
	expect := func(host, cmd string, ok bool, contains string) {
		t.Helper()
		out, got := l.sh(t, host, cmd)
		if got != ok || !strings.Contains(out, contains) {
			t.Errorf("%s: %s: exit 0 = %v (want %v), output should contain %q:\n%s", host, cmd, got, ok, contains, out)
		}
	}
	// Worker-only node: the wrappers refuse (kubectl exits 0 with the message), the snap's kubectl works.
	expect("h3", "microk8s kubectl get nodes", true, "acting as a node in a cluster")
	expect("h3", "microk8s status", false, "acting as a node in a cluster")
	expect("h3", "snap services microk8s.daemon-kubelite | awk 'NR == 2 {print $3}'", true, "active")
	// Tokens are single-use and expire; a control-plane node already in dqlite is refused.
	used := microk8s.JoinToken("lab-doubles-join-secret", "h2")
	expect("h2", "microk8s join 10.77.0.11:25000/"+used, false, "invalid token")
	expect("h1", "microk8s add-node --token 00000000000000000000000000000001 --token-ttl 1 >/dev/null && sleep 2", true, "")
	expect("h2", "microk8s join 10.77.0.11:25000/00000000000000000000000000000001", false, "invalid token")
	expect("h1", "microk8s add-node --token 00000000000000000000000000000002 --token-ttl 60 >/dev/null", true, "")
	expect("h2", "microk8s join 10.77.0.11:25000/00000000000000000000000000000002", false, "already known to dqlite")
	// MicroCeph: the members are ONLINE over :7443, an OSD disk is not added twice, pool size 3.
	expect("h2", "microceph cluster list | grep -c ONLINE", true, "3")
	expect("h1", "microceph disk add /dev/sdb --wipe", false, "already in use")
	expect("h1", "microceph.ceph osd pool get pm4ml-rbd size -f json", true, `"size":3`)
	expect("h1", "microceph.ceph osd ls | wc -l", true, "3")
}

// TestDoublesShellcheck lints the doubles and checks their headers (always runs).
func TestDoublesShellcheck(t *testing.T) {
	sc := testtool.Tool(t, "shellcheck")
	files, _ := filepath.Glob(filepath.Join(doublesDir, "bin", "*"))
	libs, _ := filepath.Glob(filepath.Join(doublesDir, "lib", "*.sh"))
	files = append(append(files, libs...), filepath.Join(doublesDir, "install.sh"))
	if len(files) < 9 {
		t.Fatalf("doubles: %v", files)
	}
	rel := make([]string, len(files))
	for i, f := range files {
		rel[i], _ = filepath.Rel(doublesDir, f)
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "LAB DOUBLE — never shipped") || !strings.Contains(string(b), "set -euo pipefail") && !strings.HasPrefix(rel[i], "lib/") {
			t.Errorf("%s: needs the header 'LAB DOUBLE — never shipped' and set -euo pipefail", f)
		}
	}
	cmd := exec.Command(sc, append([]string{"-S", "style", "-x"}, rel...)...)
	cmd.Dir = doublesDir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("shellcheck: %v\n%s", err, out)
	}
	more, _ := filepath.Glob(filepath.Join(doublesDir, "lib", "*.py"))
	yamls, _ := filepath.Glob(filepath.Join(doublesDir, "lib", "manifests", "*.yaml"))
	for _, f := range append(more, yamls...) {
		if b, _ := os.ReadFile(f); !strings.Contains(string(b), "LAB DOUBLE — never shipped") {
			t.Errorf("%s: needs the header 'LAB DOUBLE — never shipped'", f)
		}
	}
}
