package stacks

import (
	"fmt"
	"sort"
	"strings"

	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/components/remotecmd"
	"github.com/pm4ml/pm4ml-onprem/components/verify"
)

// LoadForRender loads a configuration for review: secrets are taken as provided (their values
// are never needed to render), everything else is validated as for `pulumi up`.
func LoadForRender(src Source) (*Config, error) { return load(src, true) }

// withSecretsProvided is a copy of c whose required secrets count as set and secret; secrets
// set in plain text are still refused.
func withSecretsProvided(c *Config) *Config {
	cp := *c
	cp.Secrets = map[string]SecretState{}
	for _, k := range SecretKeys {
		st := c.Secrets[k]
		if !st.Set {
			st = SecretState{Set: true, IsSecret: true}
		}
		cp.Secrets[k] = st
	}
	if !c.Secrets[SecretBastionKey].Set {
		cp.Secrets[SecretBastionKey] = SecretState{}
	}
	return &cp
}

// Artifact is one rendered file (path <host>/<component>/<file>, mode, content, and the step it
// belongs to): what a host receives, for review.
type Artifact = remotecmd.File

// Render renders every script and configuration file each host receives, in a stable order,
// without credentials and without contacting anything. It uses the same renderers as Deploy and
// the same walk as Steps.
func Render(c *Config) ([]Artifact, error) {
	r, err := renderAll(c)
	if err != nil {
		return nil, err
	}
	out := append([]Artifact(nil), r.files...)
	out = append(out, Artifact{Path: "MANIFEST.md", Content: manifest(c, out), Mode: remotecmd.ConfigMode})
	return out, nil
}

// renderVerify renders the verification's checks that run on the HAProxy hosts (guide 6.6:
// `systemctl is-active haproxy`), as verify.New renders them.
func renderVerify(c *Config) ([]Artifact, error) {
	r, err := verify.Render(c.VerifyPlan())
	if err != nil {
		return nil, err
	}
	return r.Files(), nil
}

// haproxyNames are the HAProxy hosts in configuration order.
func (c *Config) haproxyNames() []string {
	var out []string
	for _, h := range c.HostsWith(hosts.RoleHAProxy) {
		out = append(out, h.Name)
	}
	return out
}

// ManifestTitle starts every MANIFEST.md the render command writes.
const ManifestTitle = "# pm4ml-onprem render:"

// ManifestFiles lists the files (host/file) a MANIFEST.md names.
func ManifestFiles(manifest string) []string {
	var out []string
	for _, line := range strings.Split(manifest, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 7 || strings.TrimSpace(cells[1]) == "host" || strings.HasPrefix(strings.TrimSpace(cells[1]), "---") {
			continue
		}
		out = append(out, strings.TrimSpace(cells[1])+"/"+strings.TrimSpace(cells[4]))
	}
	return out
}

func manifest(c *Config, arts []Artifact) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s (%s)\n\n", ManifestTitle, c.Environment, c.Domain)
	b.WriteString("What each host receives, in execution order. Scripts run as root over SSH with\n")
	b.WriteString("`bash -c <script> <step> <ssh-client-address>`; secrets reach a script only on stdin.\n\n")
	b.WriteString("| host | roles | address | file | sha256 (first 16) | step |\n|---|---|---|---|---|---|\n")
	byName := map[string]HostSpec{}
	for _, h := range c.Hosts {
		byName[h.Name] = h
	}
	sorted := append([]Artifact(nil), arts...)
	sort.SliceStable(sorted, func(i, j int) bool { return hostIndex(c, sorted[i].Path) < hostIndex(c, sorted[j].Path) })
	for _, a := range sorted {
		host, file, _ := strings.Cut(a.Path, "/")
		h := byName[host]
		step := a.Step
		if a.Delete {
			step += " (delete)"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", host, strings.Join(roleStrings(h), "+"), h.Address, file, remotecmd.Hash(a.Content), step)
	}
	return b.String()
}

// hostIndex orders artifacts by host in configuration order.
func hostIndex(c *Config, p string) int {
	host, _, _ := strings.Cut(p, "/")
	for i, h := range c.Hosts {
		if h.Name == host {
			return i
		}
	}
	return len(c.Hosts)
}

func roleStrings(h HostSpec) []string {
	out := make([]string, len(h.Roles))
	for i, r := range h.Roles {
		out[i] = string(r)
	}
	return out
}
