package stacks

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/pm4ml/pm4ml-onprem/components/hostprep"
	"github.com/pm4ml/pm4ml-onprem/components/remotecmd"
)

// LoadForRender loads a configuration for review: secrets are taken as provided (their values
// are never needed to render), everything else is validated as for `pulumi up`.
func LoadForRender(src Source) (*Config, error) {
	cfg, errs := decode(src)
	if len(errs) == 0 {
		applyDefaults(cfg)
		errs = Validate(withSecretsProvided(cfg))
	}
	if len(errs) > 0 {
		return cfg, &ConfigError{Problems: errs}
	}
	return cfg, nil
}

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

// Artifact is one rendered file: what a host receives, for review.
type Artifact struct {
	Path    string // relative, <host>/<component>/<file>
	Content string
	Mode    uint32
}

// Render renders every script and configuration file each host receives, in a stable order,
// without credentials and without contacting anything. It uses the same renderers as Deploy.
func Render(c *Config) ([]Artifact, error) {
	var out []Artifact
	for _, plan := range c.PrepPlans() {
		r, err := hostprep.Render(plan)
		if err != nil {
			return nil, err
		}
		dir := path.Join(plan.Name, "hostprep")
		for j, s := range r.Scripts {
			out = append(out, Artifact{Path: path.Join(dir, fmt.Sprintf("%d0-%s.sh", j+1, hostprep.Steps[j])), Content: s.Body, Mode: 0o755})
		}
		out = append(out, Artifact{Path: path.Join(dir, "nftables.nft"), Content: r.Ruleset, Mode: 0o644})
	}
	cluster, err := renderCluster(c)
	if err != nil {
		return nil, err
	}
	out = append(out, cluster...)
	out = append(out, Artifact{Path: "MANIFEST.md", Content: manifest(c, out), Mode: 0o644})
	return out, nil
}

func manifest(c *Config, arts []Artifact) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# pm4ml-onprem render: %s (%s)\n\n", c.Environment, c.Domain)
	b.WriteString("What each host receives, in execution order. Scripts run as root over SSH with\n")
	b.WriteString("`bash -c <script> <step> <ssh-client-address>`; secrets reach a script only on stdin.\n\n")
	b.WriteString("| host | roles | address | file | sha256 (first 16) |\n|---|---|---|---|---|\n")
	byName := map[string]HostSpec{}
	for _, h := range c.Hosts {
		byName[h.Name] = h
	}
	sorted := append([]Artifact(nil), arts...)
	sort.SliceStable(sorted, func(i, j int) bool { return hostIndex(c, sorted[i].Path) < hostIndex(c, sorted[j].Path) })
	for _, a := range sorted {
		host, file, _ := strings.Cut(a.Path, "/")
		h := byName[host]
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", host, strings.Join(roleStrings(h), "+"), h.Address, file, remotecmd.Hash(a.Content))
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
