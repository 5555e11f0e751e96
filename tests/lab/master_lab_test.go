package lab

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"time"
)

// h1Step: a resource of the host h1 (not h10).
var h1Step = regexp.MustCompile(`(^|-)h1(-|$)`)

// mayBeReplaced: the verification, a local command whose trigger is the hash of its checks (the
// node set is part of them): it runs again. Every other step of the remaining hosts is at most
// updated: the cluster-wide steps (finalize, backup, storage) and the token and drain steps that
// ran on h1 move to h2 in place.
const mayBeReplaced = "verify-checks"

// removeFirstMaster (TestStackLab's 8-remove-first-master, issue 13): h1, the first master (the
// node the cluster grew around on day 1), leaves the configuration. The preview deletes h1's
// steps only; the token and drain steps that ran on h1 are updated in place on h2, never
// replaced (their deletes remove nodes); no Kubernetes object changes (the provider is updated:
// the kubeconfig is h2's, known in the preview, and the clusterIdentifier stays). During `up` the VIP keeps
// answering and at most one node is cordoned or NotReady at a time; afterwards the cluster is
// h2..h5, h1 left it, the API server output is h2's, and a preview is empty.
func (l *stackLab) removeFirstMaster() {
	t := l.t
	b, err := os.ReadFile(l.cfgFile)
	line := "    - {name: h1, address: 10.77.0.11, roles: [master]}\n"
	if err != nil || !strings.Contains(string(b), line) {
		t.Fatalf("the lab stack file has no %q: %v", line, err)
	}
	if err := os.WriteFile(l.cfgFile, []byte(strings.Replace(string(b), line, "", 1)), 0o600); err != nil {
		t.Fatal(err)
	}

	var planned []string
	for _, s := range l.previewSteps() {
		n := resName(s.URN)
		planned = append(planned, s.Op+" "+n)
		switch {
		case h1Step.MatchString(n):
			if s.Op != "delete" {
				t.Errorf("preview: %s %s (h1's steps are deleted, nothing else)", s.Op, n)
			}
		case s.Op == "update":
		case n == mayBeReplaced && (s.Op == "replace" || s.Op == "create-replacement" || s.Op == "delete-replaced"):
		default:
			t.Errorf("preview: %s %s (a remaining host's step may only be updated)", s.Op, n)
		}
	}
	t.Logf("preview: %v", planned)
	for _, want := range []string{"update microk8s-h2-token", "update microk8s-h4-drain", "update microk8s-finalize", "update microk8s-kubernetes",
		"delete microk8s-h1-join", "delete microk8s-h1-token", "delete microk8s-h1-kubeconfig"} {
		if !slices.Contains(planned, want) {
			t.Errorf("preview lacks %q", want)
		}
	}

	out, down, err := l.upWatched("up without h1")
	if err != nil {
		t.Fatalf("%v\n%s", err, tail(out, 80))
	}
	if len(down) > 1 || len(down) == 1 && down[0] != "h1" {
		t.Errorf("nodes taken down %v, want h1 at most (it is drained before it leaves)", down)
	}
	if out, err := l.kubectl("get", "nodes", "-o", "name"); err != nil || out != "node/h2\nnode/h3\nnode/h4\nnode/h5\n" {
		t.Errorf("nodes after h1 left: %v %q, want h2..h5", err, out)
	}
	if out := l.mustSSH(l.addr("h1"), "test -e /var/lib/pm4ml-lab-double/microk8s/member && echo MEMBER || echo left; test -e /var/snap/microk8s/common/pm4ml-cluster-member && echo MARKED || true"); strings.TrimSpace(out) != "left" {
		t.Errorf("h1 after its removal: %q (want: left the cluster, no member marker)", out)
	}
	for _, r := range l.export() {
		if r.Type == "pm4ml:microk8s:Cluster" {
			if got, _ := r.Outputs["apiServer"].(string); got != "https://10.77.0.12:16443" {
				t.Errorf("apiServer output %q, want h2's https://10.77.0.12:16443", got)
			}
		}
	}
	if out, err := l.pulumi(20*time.Minute, "", nil, l.stackArgs("preview", "--expect-no-changes")...); err != nil {
		t.Errorf("after h1 left a preview still has changes: %v\n%s", err, tail(out, 40))
	}
}
