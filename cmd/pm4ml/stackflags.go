package main

import (
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/pm4ml/pm4ml-onprem/stacks"
)

// stackFlags are the flags every subcommand uses to name a stack file: --stack NAME (with --dir)
// or --config FILE.
type stackFlags struct {
	stack, file, dir *string
}

// addStackFlags registers --stack, --config and --dir on fs; stackHelp and fileHelp describe the
// first two for this subcommand ("" for the common wording).
func addStackFlags(fs *flag.FlagSet, stackHelp, fileHelp string) *stackFlags {
	if stackHelp == "" {
		stackHelp = "stack name: reads Pulumi.<stack>.yaml in --dir"
	}
	if fileHelp == "" {
		fileHelp = "path of a stack file (instead of --stack)"
	}
	return &stackFlags{
		stack: fs.String("stack", "", stackHelp),
		file:  fs.String("config", "", fileHelp),
		dir:   fs.String("dir", ".", "project directory holding the stack files"),
	}
}

// path is the stack file the flags name; ok is false (and the usage error printed) when neither
// --stack nor --config was given.
func (f *stackFlags) path(cmd string, stderr io.Writer) (string, bool) {
	if *f.file != "" {
		return *f.file, true
	}
	if *f.stack == "" {
		fmt.Fprintf(stderr, "%s: give --stack NAME or --config FILE\n", cmd)
		return "", false
	}
	return filepath.Join(*f.dir, "Pulumi."+*f.stack+".yaml"), true
}

// loadStackFile reads the stack file at path and loads it as render does (validated; secrets not
// required); ok is false, with the reason printed, when it cannot.
func loadStackFile(path string, stderr io.Writer) (*stacks.Config, bool) {
	src, err := stacks.ReadStackFile(path)
	if err != nil {
		fmt.Fprintln(stderr, "pm4ml:", err)
		return nil, false
	}
	cfg, err := stacks.LoadForRender(src)
	if err != nil {
		fmt.Fprintf(stderr, "pm4ml: %s: %v\n", path, err)
		return nil, false
	}
	return cfg, true
}
