package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

const localType = "command:local:Command"

func TestLocalCommandLifecycle(t *testing.T) {
	h := newHarness(t)
	dir := t.TempDir()
	u := urn(localType, "local")
	news := resource.PropertyMap{
		"create":      str(`read -r line; echo "$line in $(pwd) as $MODE" | tee created`),
		"delete":      str(`echo "was: $PULUMI_COMMAND_STDOUT" > deleted`),
		"dir":         str(dir),
		"environment": resource.NewProperty(resource.PropertyMap{"MODE": str("lab")}),
		"stdin":       resource.MakeSecret(str("secret-line\n")),
		"logging":     str("none"),
		"triggers":    resource.NewProperty([]resource.PropertyValue{str("t1")}),
	}
	ins := h.check(u, nil, news)
	id, state, err := h.create(u, ins, false)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	want := "secret-line in " + dir + " as lab"
	if got := plain(state, "stdout"); got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	if !state["stdin"].IsSecret() {
		t.Errorf("secret stdin must stay secret")
	}
	if l := h.engine.Logs(u); len(l) != 0 {
		t.Errorf("logging none must log nothing: %v", l)
	}

	// create changed, no update command: create runs again (PULUMI_COMMAND_STDOUT available).
	news2 := news.Copy()
	news2["create"] = str(`echo "again after [$PULUMI_COMMAND_STDOUT]"`)
	news2["logging"] = str("stdout")
	ins2 := h.check(u, ins, news2)
	d := h.diff(u, id, state, ins, ins2)
	if len(d.GetReplaces()) != 0 || d.GetDetailedDiff()["create"] == nil {
		t.Errorf("create change must be an update: %v", d)
	}
	state2, err := h.update(u, id, state, ins, ins2, false)
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if got := plain(state2, "stdout"); got != "again after ["+want+"]" {
		t.Errorf("update stdout = %q", got)
	}
	if !strings.Contains(h.logged(u), "again after") {
		t.Errorf("logging stdout must log the output, got %q", h.logged(u))
	}

	if err := h.delete(u, id, state2, ins2); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "deleted"))
	if err != nil || strings.TrimSpace(string(b)) != "was: again after ["+want+"]" {
		t.Errorf("delete must run the old delete command with the last stdout: %q %v", b, err)
	}
}

func TestLocalCommandInterpreterAndFailure(t *testing.T) {
	h := newHarness(t)
	u := urn(localType, "interp")
	ins := h.check(u, nil, resource.PropertyMap{
		"create":      str(`printf '%s|' "$0" "$1"`),
		"interpreter": resource.NewProperty([]resource.PropertyValue{str("/bin/sh"), str("-c")}),
		"dir":         str(t.TempDir()),
	})
	if _, state, err := h.create(u, ins, false); err != nil || plain(state, "stdout") != "/bin/sh||" {
		t.Errorf("interpreter run: %v %q", err, plain(state, "stdout"))
	}
	bad := h.check(u, nil, resource.PropertyMap{"create": str("echo nope >&2; exit 4"), "dir": str(t.TempDir())})
	_, _, err := h.create(u, bad, false)
	if err == nil || !strings.Contains(err.Error(), "exit status 4") || !strings.Contains(err.Error(), "nope") {
		t.Errorf("non-zero exit must fail with the output, got %v", err)
	}
	_, fails := h.checkFailures(u, nil, resource.PropertyMap{
		"create":     str("true"),
		"assetPaths": resource.NewProperty([]resource.PropertyValue{str("*.txt")}),
	})
	if len(fails) != 1 || fails[0].GetProperty() != "assetPaths" || !strings.Contains(fails[0].GetReason(), "stand-in") {
		t.Errorf("assetPaths must be refused by the stand-in, got %v", fails)
	}
}
