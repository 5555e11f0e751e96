package drift

import (
	"fmt"
	"io"
	"strings"
)

// WriteText writes the report as a table per host and step: a line per step (status), a line per
// drift under it (with its diff indented), and a summary line.
func (r *Report) WriteText(w io.Writer) {
	for _, h := range r.Hosts {
		fmt.Fprintf(w, "%s (%s)", h.Host, h.Address)
		if h.Error != "" {
			fmt.Fprintf(w, ": NOT CHECKED: %s", h.Error)
		}
		fmt.Fprintln(w)
		for _, s := range h.Steps {
			status := s.Status
			switch s.Status {
			case Drifted:
				status = fmt.Sprintf("%d drift(s)", len(s.Drifts))
			case InSync:
				status = "in sync"
			case Skipped:
				status = "skipped (output only)"
			case NotRun:
				status = "not checked"
			}
			fmt.Fprintf(w, "  %-32s %s", s.Step, status)
			if s.Error != "" {
				fmt.Fprintf(w, ": %s", s.Error)
			}
			fmt.Fprintln(w)
			for _, d := range s.Drifts {
				fmt.Fprintf(w, "      - %s\n", d.What)
				for _, l := range d.Detail {
					fmt.Fprintf(w, "          %s\n", l)
				}
			}
			for _, i := range s.Info {
				fmt.Fprintf(w, "      . %s\n", i)
			}
		}
	}
	if len(r.Repaired) > 0 {
		fmt.Fprintln(w, "repaired (apply scripts re-run, in dependency order):")
		for _, rr := range r.Repaired {
			fmt.Fprintf(w, "  %s/%s", rr.Host, rr.Step)
			if rr.Error != "" {
				fmt.Fprintf(w, ": FAILED: %s", rr.Error)
			}
			fmt.Fprintln(w)
			for _, c := range rr.Changed {
				fmt.Fprintf(w, "      changed: %s\n", c)
			}
		}
	}
	fmt.Fprintln(w, r.Summary())
}

// Summary is the last line of the text report.
func (r *Report) Summary() string {
	var b strings.Builder
	steps := len(r.Drifted())
	switch {
	case r.Drifts == 0:
		b.WriteString("pm4ml drift: in sync")
	default:
		fmt.Fprintf(&b, "pm4ml drift: %d drift(s) in %d step(s)", r.Drifts, steps)
	}
	if len(r.Unchecked) > 0 {
		fmt.Fprintf(&b, "; NOT CHECKED: %s", strings.Join(r.Unchecked, ", "))
	}
	fmt.Fprintf(&b, " (exit %d)", r.ExitCode())
	return b.String()
}
