package rules

// Rule pinned-snaps (guide 2).

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/pm4ml/pm4ml-onprem/components/microceph"
	"github.com/pm4ml/pm4ml-onprem/components/microk8s"
)

// Pinned channels: an explicit track and a risk level (never latest/ or a bare risk).
var (
	microk8sChannelRe  = regexp.MustCompile(`^[0-9]+\.[0-9]+(-[a-z]+)?/(stable|candidate|beta|edge)(/[A-Za-z0-9._-]+)?$`)
	microcephChannelRe = regexp.MustCompile(`^[a-z][a-z0-9]*/(stable|candidate|beta|edge)(/[A-Za-z0-9._-]+)?$`)
)

// checkPinnedSnaps is rule 8 (guide 2): MicroK8s and MicroCeph on pinned channels, refreshes
// held, MicroK8s on the configured channel.
func checkPinnedSnaps(s *Stack) []Finding {
	if !s.isProgram() {
		return nil
	}
	const rule = "the pinned-snaps rule"
	f := s.facts()
	var out []Finding
	if !f.present {
		out = append(out, missingComponent(s, FactsToken, "the configured snap channels are unknown"))
	} else if !f.Known("snapChannels") {
		out = append(out, unknown(f.Res, "the configured snap channels", rule))
	}
	snap := func(token, name string, re *regexp.Regexp, key string) {
		r := s.first(token)
		if r == nil {
			out = append(out, missingComponent(s, token, "the "+name+" snap channel cannot be checked"))
			return
		}
		chv, hv := prop(r, "channel"), prop(r, "refreshHeld")
		if chv.IsNull() && hv.IsNull() {
			out = append(out, Finding{URN: r.URN, Unknown: true, Message: fmt.Sprintf(
				"%s (%s): the component registers no channel/refreshHeld outputs, so %s cannot verify the %s snap; expose them as outputs of the component",
				r.Name, r.Type, rule, name)})
			return
		}
		ch, known, _ := str(chv)
		if !known {
			out = append(out, unknown(r, "the channel output", rule))
		} else {
			if !re.MatchString(ch) || strings.HasPrefix(ch, "latest/") {
				out = append(out, finding(r, fmt.Sprintf("the %s snap channel %q is not pinned to a track", name, ch),
					fmt.Sprintf("set %s to an explicit track and risk, e.g. %s", key, ExampleChannels[name])))
			}
			if want, ok := f.SnapChannels[name]; f.Known("snapChannels") && ok && want != ch {
				out = append(out, finding(r, fmt.Sprintf("the %s snap is on channel %q, the stack configures %q", name, ch, want),
					fmt.Sprintf("install the channel of %s (the component must take it from the configuration)", key)))
			}
		}
		held, known, ok := boolean(hv)
		switch {
		case !known:
			out = append(out, unknown(r, "the refreshHeld output", rule))
		case !ok || !held:
			out = append(out, finding(r, fmt.Sprintf("the %s snap's refreshes are not held, so snapd may upgrade it unattended", name),
				fmt.Sprintf("hold the refreshes (snap refresh --hold %s) in the component's install step", name)))
		}
	}
	snap(microk8s.Token, "microk8s", microk8sChannelRe, "pm4ml:microk8s.channel")
	snap(microceph.Token, "microceph", microcephChannelRe, "pm4ml:ceph.channel")
	return out
}
