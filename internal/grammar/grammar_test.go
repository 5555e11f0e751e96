package grammar

import "testing"

// Paths: AbsPath reaches host shells (strict); LocalPath is read by the program on the machine
// that runs Pulumi, where realistic paths carry '@' (the Go module cache), '!', '+', ',', '='.
func TestPaths(t *testing.T) {
	for _, c := range []struct {
		rule Rule
		in   string
		ok   bool
	}{
		{AbsPath, "/var/lib/pm4ml-local", true},
		{AbsPath, "/var/lib/../etc", false},
		{AbsPath, "/srv/a@b", false},
		{AbsPath, "relative/path", false},
		{LocalPath, "/root/.cache/pm4ml-onprem/go/mod/github.com/argoproj/argo-cd/v2@v2.14.21/manifests/install.yaml", true},
		{LocalPath, "/home/ops/src/github.com/!my!org/gitops+prod/", true},
		{LocalPath, "/etc/ssl/private-ca/ca,2026=current.pem", true},
		{LocalPath, "/srv/a b", false},
		{LocalPath, "/srv/a;b", false},
		{LocalPath, "/srv/$(x)", false},
		{LocalPath, "/srv/`x`", false},
		{LocalPath, "/srv/'x'", false},
		{LocalPath, "/srv/x\n", false},
		{LocalPath, "/srv/../etc/shadow", false},
		{LocalPath, "/srv/./x", false},
		{LocalPath, "srv/x", false},
		{LocalPath, "/", false},
	} {
		if got := c.rule.OK(c.in); got != c.ok {
			t.Errorf("%s(%q) = %v, want %v", c.rule.Name, c.in, got, c.ok)
		}
	}
}
