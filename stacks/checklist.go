package stacks

import (
	_ "embed"
	"fmt"
	"slices"
	"strings"

	"github.com/pm4ml/pm4ml-onprem/components/checklist"
	"github.com/pm4ml/pm4ml-onprem/components/hosts"
	"github.com/pm4ml/pm4ml-onprem/internal/gitopsrender"
)

// The source of the checklist settings, for the configuration reference (docs.go).
//
//go:embed checklist.go
var checklistSource string

// Checklist is the pre-deployment checklist gate (guide 6.3, components/checklist).
type Checklist struct {
	// Acknowledged are the checklist items a machine cannot decide, each verified by a person:
	// the item id (see docs/POLICY.md), who approved it and a reference. An item not listed
	// fails the gate.
	Acknowledged []ChecklistAck `json:"acknowledged,omitempty"`
	// RepoDir is a local working tree of the GitOps repository at pm4ml:gitops.revision that the
	// gate reads instead of cloning pm4ml:gitops.repoUrl (e.g. a checkout on the deploy host).
	RepoDir string `json:"repoDir,omitempty"`
	// Mode: "enforce" (default: any failure stops the update before the first Application) or
	// "report" (failures are warnings; stg only, while a repository is being brought up to the
	// checklist).
	Mode string `json:"mode,omitempty"`
}

// ChecklistAck is one acknowledged manual checklist item.
type ChecklistAck struct {
	Item string `json:"item"`          // the item id, e.g. database-credentials
	By   string `json:"by"`            // who verified and approved it
	Ref  string `json:"ref,omitempty"` // a ticket or change reference
}

func (x *v) checklist(c *Config) {
	cl := c.Checklist
	ids := checklist.ManualIDs()
	seen := map[string]bool{}
	for i, a := range cl.Acknowledged {
		k := key("checklist.acknowledged[%d]", i)
		switch {
		case !slices.Contains(ids, a.Item):
			x.add(k+".item", fmt.Sprintf("%q is not a manual checklist item", a.Item), "use one of "+strings.Join(ids, ", "))
		case seen[a.Item]:
			x.add(k+".item", fmt.Sprintf("%q is acknowledged twice", a.Item), "list every item once")
		}
		seen[a.Item] = true
		if strings.TrimSpace(a.By) == "" || placeholderRe.MatchString(a.By) {
			x.add(k+".by", fmt.Sprintf("%q does not name who approved %s", a.By, a.Item), "name the person who verified the item")
		}
	}
	switch cl.Mode {
	case "", checklist.ModeEnforce:
	case checklist.ModeReport:
		if c.Environment == hosts.Prod {
			x.add(key("checklist.mode"), "is report in prod", "remove it: in prod the checklist is enforced (guide 6.3 \"Deployment must not proceed\")")
		}
	default:
		x.add(key("checklist.mode"), fmt.Sprintf("%q is not a checklist mode", cl.Mode), "use enforce or report")
	}
}

// ChecklistSpec is what the checklist checks the GitOps repository against (a defaulted Config).
func (c *Config) ChecklistSpec() checklist.Spec {
	s := checklist.Spec{Domain: c.Domain, StorageClasses: c.StoragePlan().Classes()}
	for _, w := range c.Waves {
		for _, a := range w.Apps {
			s.Apps = append(s.Apps, gitopsrender.App{Name: a.Name, Path: a.Path, Namespace: a.Namespace})
		}
	}
	for _, a := range c.Checklist.Acknowledged {
		s.Acks = append(s.Acks, checklist.Ack{Item: a.Item, By: a.By, Ref: a.Ref})
	}
	return s
}
