package rules

// Rule pre-deployment-checklist (guide 6.3): the four checks of checklist_*.go.

import ()

// checkChecklist is rule 6 (guide 6.3 Pre-Deployment Checklist), as far as resources show it.
func checkChecklist(s *Stack) []Finding {
	var out []Finding
	out = append(out, checkPlaceholders(s)...)
	out = append(out, checkResourceLimits(s)...)
	out = append(out, checkStorageClassesExist(s)...)
	out = append(out, checkHostsUnderDomain(s)...)
	return out
}

const checklistRule = "the pre-deployment-checklist rule"
