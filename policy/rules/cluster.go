package rules

import (
	"fmt"
)

// Minimums of the production design (guide 1.1, 4.1, 5.5).
const (
	MinMasters      = 3
	MinWorkers      = 3
	MinHAProxyHosts = 2
	MinStorageHosts = 3
)

// missing is the finding for a component the program always registers but this stack lacks.
func missingComponent(s *Stack, token, what string) Finding {
	r := s.first(FactsToken)
	if r == nil {
		r = s.first("pulumi:pulumi:Stack")
	}
	if r == nil {
		return Finding{Message: fmt.Sprintf("the stack has no %s component, so %s. Fix: register it in stacks.Build", token, what)}
	}
	return finding(r, fmt.Sprintf("the stack has no %s component, so %s", token, what), "register it in stacks.Build")
}

func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}
