package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/pm4ml/pm4ml-onprem/components/checklist"
)

// runChecklist is `pm4ml checklist`: the guide 6.3 gate over a GitOps working tree, for the
// repository's own pipeline. Exit 0: every rule passed; 1: any failure (one line each); 2: a
// usage or configuration error.
func runChecklist(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("checklist", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sf := addStackFlags(fs, "", "")
	repo := fs.String("repo", "", "the GitOps repository's working tree, at the revision to check")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	path, ok := sf.path("pm4ml checklist", stderr)
	if !ok {
		return 2
	}
	if *repo == "" {
		fmt.Fprintln(stderr, "pm4ml checklist: give --repo DIR (the GitOps working tree)")
		return 2
	}
	if st, err := os.Stat(*repo); err != nil || !st.IsDir() {
		fmt.Fprintf(stderr, "pm4ml checklist: --repo %s is not a directory\n", *repo)
		return 2
	}
	cfg, ok := loadStackFile(path, stderr)
	if !ok {
		return 2
	}
	rep := checklist.Check(*repo, cfg.ChecklistSpec())
	if *asJSON {
		fmt.Fprint(stdout, rep.JSON())
	} else {
		for _, l := range rep.Lines() {
			fmt.Fprintln(stdout, l)
		}
		fmt.Fprintf(stdout, "checklist: %d app(s) rendered, %d manual item(s), %d failure(s)\n", len(rep.Apps), len(rep.Manual), len(rep.Failures))
	}
	if !rep.Passed() {
		return 1
	}
	return 0
}
