package rules

// Check of the pre-deployment-checklist rule: resource requests and limits.

import (
	"fmt"
	"strings"
)

// resourceKeys are the settings every container needs (guide 6.3 Resource Management).
var resourceKeys = [][2]string{{"requests", "cpu"}, {"requests", "memory"}, {"limits", "cpu"}, {"limits", "memory"}}

func checkResourceLimits(s *Stack) []Finding {
	var out []Finding
	for i := range s.Resources {
		r := &s.Resources[i]
		spec, ok := workload(r)
		if !ok {
			continue
		}
		if spec.IsComputed() {
			out = append(out, unknown(r, "the pod spec", checklistRule))
			continue
		}
		for _, list := range []string{"initContainers", "containers"} {
			cs, known := items(at(spec, list))
			if !known {
				out = append(out, unknown(r, list, checklistRule))
				continue
			}
			for _, c := range cs {
				name, _, _ := str(at(c, "name"))
				var missing, unknownKeys []string
				for _, k := range resourceKeys {
					v := at(c, "resources", k[0], k[1])
					switch {
					case v.IsComputed():
						unknownKeys = append(unknownKeys, k[0]+"."+k[1])
					case v.IsNull():
						missing = append(missing, k[0]+"."+k[1])
					case v.IsString() && strings.TrimSpace(v.AsString()) == "":
						missing = append(missing, k[0]+"."+k[1])
					}
				}
				if len(unknownKeys) > 0 {
					out = append(out, unknown(r, fmt.Sprintf("resources %s of container %s", strings.Join(unknownKeys, ", "), name), checklistRule))
				}
				if len(missing) > 0 {
					field := fmt.Sprintf("%s.%s[%s].resources", strings.Join(podSpecPath[kindOf(r)], "."), list, name)
					out = append(out, findingAt(r, field, fmt.Sprintf("container %s has no %s", name, strings.Join(missing, ", ")),
						"set resources.requests and resources.limits for cpu and memory on every container (guide 6.3 Resource Management)"))
				}
			}
		}
	}
	return out
}
