package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/pm4ml/pm4ml-onprem/components/checklist"
)

// stackFile writes the lab stack with the checklist's test apps as its waves and extra settings.
func stackFile(t *testing.T, acks bool) string {
	t.Helper()
	b, err := os.ReadFile("../../tests/lab/testdata/Pulumi.stacklab.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	c := doc["config"]
	c["pm4ml:waves"] = []any{
		map[string]any{"name": "certificate-management", "apps": []any{map[string]any{"name": "certmanager-clusterissuers", "namespace": "cert-manager"}}},
		map[string]any{"name": "service-mesh", "apps": []any{map[string]any{"name": "istio-gateways-app", "namespace": "istio-ingress"}}},
		map[string]any{"name": "vault-and-secrets", "apps": []any{
			map[string]any{"name": "vault", "path": "apps/certmanager-clusterissuers", "namespace": "vault"},
			map[string]any{"name": "common-stateful-resources-app", "namespace": "stateful"}}},
		map[string]any{"name": "pm4ml-core", "apps": []any{map[string]any{"name": "pm4ml"}}},
	}
	cl := map[string]any{}
	if acks {
		var list []any
		for _, id := range checklist.ManualIDs() {
			list = append(list, map[string]any{"item": id, "by": "Jane Operator", "ref": "CHG-7"})
		}
		cl["acknowledged"] = list
	}
	c["pm4ml:checklist"] = cl
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "Pulumi.test.yaml")
	if err := os.WriteFile(p, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const repo = "../../components/checklist/testdata/gitops"

func TestChecklistCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if rc := run([]string{"checklist", "--config", stackFile(t, true), "--repo", repo}, &out, &errb); rc != 0 {
		t.Fatalf("rc %d on the clean repository:\n%s%s", rc, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "5 app(s) rendered") {
		t.Errorf("output: %s", out.String())
	}

	out.Reset()
	errb.Reset()
	if rc := run([]string{"checklist", "--config", stackFile(t, false), "--repo", repo}, &out, &errb); rc != 1 {
		t.Fatalf("rc %d without acknowledgements, want 1:\n%s%s", rc, out.String(), errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if n := len(checklist.ManualItems); len(lines) != n+1 || !strings.HasPrefix(lines[0], "FAIL manual app=- - field=pm4ml:checklist.acknowledged") {
		t.Errorf("want %d manual failure lines and the summary, got:\n%s", n, out.String())
	}

	out.Reset()
	if rc := run([]string{"checklist", "--config", stackFile(t, false), "--repo", repo, "--json"}, &out, &errb); rc != 1 {
		t.Fatalf("rc %d with --json", rc)
	}
	var rep checklist.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || len(rep.Failures) != len(checklist.ManualItems) || len(rep.Apps) != 5 {
		t.Errorf("json report: %v %+v", err, rep)
	}
}

func TestChecklistCommandUsage(t *testing.T) {
	for _, args := range [][]string{
		{"checklist", "--repo", repo},
		{"checklist", "--config", "/nonexistent/Pulumi.x.yaml", "--repo", repo},
		{"checklist", "--config", "x"},
		{"checklist", "--bogus"},
	} {
		var out, errb bytes.Buffer
		if rc := run(args, &out, &errb); rc != 2 {
			t.Errorf("%v: rc %d, want 2 (%s)", args, rc, errb.String())
		}
	}
	// a configuration error is a usage error too
	p := stackFile(t, true)
	b, _ := os.ReadFile(p)
	bad := strings.Replace(string(b), "Jane Operator", "", 1)
	if err := os.WriteFile(p, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if rc := run([]string{"checklist", "--config", p, "--repo", repo}, &out, &errb); rc != 2 || !strings.Contains(errb.String(), "pm4ml:checklist.acknowledged[0].by") {
		t.Errorf("rc %d, stderr %s", rc, errb.String())
	}
}
