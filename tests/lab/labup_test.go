//go:build labup

package lab

import (
	"fmt"
	"testing"
	"time"
)

// TestLabUp is `scripts/lab.sh up` (build tag labup: `go test ./...` never runs it): the lab
// started and the lab stack's fresh `pulumi up` by the same code as TestStackLab's 1-fresh-up, with the same checks,
// the CLI's output streamed, and the lab left running for a person to look around
// (`scripts/lab.sh status`, `scripts/lab.sh down`).
func TestLabUp(t *testing.T) {
	t.Setenv("PM4ML_LAB_KEEP", "1")
	requireStackLab(t)
	t0 := time.Now()
	fmt.Println("lab: [2/4] starting the 10-host lab in network namespace " + stackNS() + " (tests/lab/stack-up.sh): " +
		"hosts, control plane, Argo CD, Vault dev server, gateway stand-in; the first time it also builds the " +
		"Debian host image (~2-4 min), a rerun reuses it; then the stand-in plugins (tests/lab/plugins/build.sh)")
	l := startStackLab(t)
	fmt.Printf("lab: [2/4] done in %.0f s\n", time.Since(t0).Seconds())
	fmt.Println("lab: [3/4] pulumi up of the lab stack (tests/lab/testdata/Pulumi.stacklab.yaml) with the real program " +
		"and the real Pulumi CLI (~2 min; the Go language host compiles the program first):")
	took := l.freshUp(func(line string) { fmt.Println("  | " + line) })
	if t.Failed() {
		fmt.Printf("lab: [3/4] pulumi up took %.0f s, but the lab's checks FAILED (see above)\n", took.Seconds())
		return
	}
	fmt.Printf("lab: [3/4] done: pulumi up took %.0f s and the lab's checks passed\n", took.Seconds())
	fmt.Println("lab: the lab stack is up")
}
