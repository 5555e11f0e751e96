#!/usr/bin/env bash
# The project's whole test run: Debian tools, shell lint, go vet, go test.
# Ends with a line `N passed, N failed` (tests and subtests; a package that fails
# without a failing test, e.g. a build error, counts as one failure).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

bash scripts/tools.sh --deb
# The real-CLI tests (policy pack, stand-in plugin) need the Pulumi CLI, its Go language host and
# the kubernetes provider: built once into $HOME/.cache/pm4ml-onprem (about 14 min cold, then a
# no-op).
bash scripts/tools.sh --pulumi
# The lab binaries (tests/e2e, tests/lab) come from `tools.sh --lab` (~55 min cold), which this
# script does not start from an empty cache (those tests then skip, saying why). Where an earlier
# --lab built them, it is rerun: a no-op check, or the build of a tool pinned since (~2 min).
if [[ -x ${PM4ML_CACHE:-$HOME/.cache/pm4ml-onprem}/bin/argocd ]]; then bash scripts/tools.sh --lab; fi

echo "== shell: bash -n + shellcheck"
mapfile -t shells < <(git ls-files -co --exclude-standard -- 'scripts/*.sh' '.ci/*.sh' '.ci/run' 'tests/*.sh' |
                      sort -u | while read -r f; do [[ ! -f $f ]] || echo "$f"; done)
for f in "${shells[@]}"; do bash -n "$f"; done
shellcheck "${shells[@]}"
echo "${#shells[@]} shell files ok"

# Go modules: the program, the lab-only stand-in plugins (nested modules, see tests/lab/plugins) and
# the Go language host (tools/pulumi-language-go).
MODULES=(. tests/lab/plugins/command tests/lab/plugins/vault tools/pulumi-language-go)

echo "== go vet"
for m in "${MODULES[@]}"; do (cd "$m" && go vet ./...); done

# The lab tests (tests/lab) run real hosts in network namespaces: they need root. They run by
# default where possible; PM4ML_LAB=0 turns them off.
if [[ $(id -u) == 0 ]]; then export PM4ML_LAB=${PM4ML_LAB:-1}; fi

# tests/e2e (platform e2e, ~4 min) runs as root when `scripts/tools.sh --pulumi --lab` was run;
# otherwise it is skipped and the skip printed. PM4ML_E2E=1 makes missing binaries a failure.
echo "== go test ./..."
# go test -json, re-rendered like plain `go test` output: package lines always,
# a test's own output only when it fails; then count.
# The timeout guards against a hang; it is not a budget: tests/lab (TestStackLab, the full-stack
# lab's fourteen subtests) ran 2796 s in a CI run that passed and hit a 50-minute timeout in the
# next; with the program built once it runs ~1000 s. 75 minutes, plus the ~10 minutes the rest of
# this script takes beside and after it, stays inside CI's 90 and still prints where it hung.
for m in "${MODULES[@]}"; do (cd "$m" && go test ./... -count=1 -timeout 75m -json 2>&1) || true; done | python3 -c '
import json, sys
passed = failed = skipped = 0
buf, failed_pkgs, pkgs_with_fail = {}, set(), set()
for line in sys.stdin:
    try:
        e = json.loads(line)
    except ValueError:
        print(line, end=""); continue
    if not isinstance(e, dict):
        print(line, end=""); continue
    act, pkg, test = e.get("Action"), e.get("Package") or e.get("ImportPath"), e.get("Test")
    if act == "build-output":
        print(e.get("Output", ""), end="")
    elif act == "output":
        if e["Output"].startswith(("=== ", "PASS\n")): continue
        if test: buf.setdefault((pkg, test), []).append(e["Output"])
        else: print(e["Output"], end="")
    elif test and act == "pass":
        passed += 1; buf.pop((pkg, test), None)
    elif test and act == "fail":
        failed += 1; pkgs_with_fail.add(pkg)
        print("".join(buf.pop((pkg, test), [])), end="")
    elif test and act == "skip":
        skipped += 1
        why = [l.strip() for l in buf.pop((pkg, test), []) if l.strip() and not l.startswith("--- SKIP")]
        reason = why[-1] if why else "(no reason given)"
        print(f"SKIP {pkg} {test}: {reason}")
    elif act == "fail" and not test:
        failed_pkgs.add(pkg)
failed += len(failed_pkgs - pkgs_with_fail)
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed or not passed else 0)
'
