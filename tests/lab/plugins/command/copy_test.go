package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/archive"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/asset"
)

const copyType = "command:remote:CopyToRemote"

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return string(b)
}

func TestCopyToRemote(t *testing.T) {
	f := newRemoteFixture(t)
	remoteDir := t.TempDir() // the test sshd serves this machine's file system over sftp
	localDir := t.TempDir()

	// Text asset into a path whose parent does not exist yet.
	text, err := asset.FromText("port=1\n")
	if err != nil {
		t.Fatal(err)
	}
	u := urn(copyType, "text")
	dest := filepath.Join(remoteDir, "etc", "app", "conf")
	ins := f.h.check(u, nil, resource.PropertyMap{
		"connection": conn(f.srv, f.key, nil),
		"source":     resource.NewProperty(text),
		"remotePath": str(dest),
	})
	id, state, err := f.h.create(u, ins, false)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if got := readFile(t, dest); got != "port=1\n" {
		t.Errorf("remote file = %q", got)
	}

	// A changed asset is copied again on update; an unchanged one is not.
	text2, _ := asset.FromText("port=2\n")
	ins2 := f.h.check(u, ins, resource.PropertyMap{
		"connection": conn(f.srv, f.key, nil), "source": resource.NewProperty(text2), "remotePath": str(dest),
	})
	if d := f.h.diff(u, id, state, ins, ins2); len(d.GetDetailedDiff()) == 0 {
		t.Errorf("changed source must show in the diff: %v", d)
	}
	state2, err := f.h.update(u, id, state, ins, ins2, false)
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if got := readFile(t, dest); got != "port=2\n" {
		t.Errorf("after update remote file = %q", got)
	}
	if err := os.WriteFile(dest, []byte("edited remotely"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := f.h.update(u, id, state2, ins2, ins2, false); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, dest); got != "edited remotely" {
		t.Errorf("same hash and path must not copy again, file = %q", got)
	}

	// File asset into an existing directory: dest/<name>.
	src := filepath.Join(localDir, "a.txt")
	if err := os.WriteFile(src, []byte("file asset"), 0o600); err != nil {
		t.Fatal(err)
	}
	fa, err := asset.FromPath(src)
	if err != nil {
		t.Fatal(err)
	}
	u3 := urn(copyType, "file")
	ins3 := f.h.check(u3, nil, resource.PropertyMap{
		"connection": conn(f.srv, f.key, nil), "source": resource.NewProperty(fa), "remotePath": str(remoteDir),
	})
	if _, _, err := f.h.create(u3, ins3, false); err != nil {
		t.Fatalf("file asset: %v", err)
	}
	if got := readFile(t, filepath.Join(remoteDir, "a.txt")); got != "file asset" {
		t.Errorf("file asset copied as %q", got)
	}

	// Directory archive: dest/<dir>/... recursively.
	tree := filepath.Join(localDir, "tree")
	if err := os.MkdirAll(filepath.Join(tree, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tree, "sub", "b.txt"), []byte("deep"), 0o600); err != nil {
		t.Fatal(err)
	}
	ar, err := archive.FromPath(tree)
	if err != nil {
		t.Fatal(err)
	}
	u4 := urn(copyType, "dir")
	out := filepath.Join(remoteDir, "out")
	ins4 := f.h.check(u4, nil, resource.PropertyMap{
		"connection": conn(f.srv, f.key, nil), "source": resource.NewProperty(ar), "remotePath": str(out),
	})
	if _, _, err := f.h.create(u4, ins4, false); err != nil {
		t.Fatalf("archive: %v", err)
	}
	if got := readFile(t, filepath.Join(out, "tree", "sub", "b.txt")); got != "deep" {
		t.Errorf("archive copied as %q", got)
	}

	// Text asset onto a directory: refused.
	u5 := urn(copyType, "text-on-dir")
	ins5 := f.h.check(u5, nil, resource.PropertyMap{
		"connection": conn(f.srv, f.key, nil), "source": resource.NewProperty(text), "remotePath": str(remoteDir),
	})
	if _, _, err := f.h.create(u5, ins5, false); err == nil {
		t.Errorf("a text asset onto a directory must fail")
	}
	if !state["connection"].ContainsSecrets() {
		t.Errorf("connection must stay secret in the state")
	}
}
