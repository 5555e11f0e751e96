// Command pm4ml is the project's helper: it renders what each host will receive, validates a stack
// file, and prints the port matrix and the configuration reference, offline (never contacting a
// host, never decrypting a secret). Only `drift` contacts the hosts (over SSH, with the stack's
// SSH key): it checks them against the rendered state and repairs what drifted.
//
//	go run ./cmd/pm4ml render   --stack stg --out build/render/stg   # or --config path/to/Pulumi.x.yaml
//	go run ./cmd/pm4ml validate --stack prod
//	go run ./cmd/pm4ml ports                                           # the port matrix, as markdown
//	go run ./cmd/pm4ml config-reference                                # the configuration keys, as markdown
//	go run ./cmd/pm4ml readme                                          # regenerate those README sections
//	go run ./cmd/pm4ml drift    --stack prod [--json] [--repair]       # check the hosts, repair drift
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/pm4ml/pm4ml-onprem/stacks"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

const usage = `usage: pm4ml <command> [flags]
commands:
  render   --stack NAME | --config FILE  --out DIR   write every script and config file each host receives
  validate --stack NAME | --config FILE              check a stack's configuration, report every problem
  checklist --stack NAME | --config FILE  --repo DIR [--json]
                                                     the pre-deployment checklist (guide 6.3) over the GitOps
                                                     working tree DIR: exit 0 pass, 1 any failure, 2 usage/config
  ports                                              print the port matrix (guide 1.3) as markdown
  config-reference                                   print the configuration keys as markdown
  readme [FILE]                                      regenerate the README's port table and config reference
  drift    --stack NAME | --config FILE  [--json] [--repair] [--parallel N]
                                                     check every host's steps over SSH against the rendered state
                                                     (exit 0 in sync, 2 drift, 1 a host or step not checked);
                                                     --repair re-applies the drifted steps, then checks again
`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "render", "validate":
		fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
		fs.SetOutput(stderr)
		sf := addStackFlags(fs, "", "")
		out := fs.String("out", "", "output directory (render)")
		if err := fs.Parse(args[1:]); err != nil {
			return 2
		}
		path, ok := sf.path("pm4ml "+args[0], stderr)
		if !ok {
			return 2
		}
		src, err := stacks.ReadStackFile(path)
		if err != nil {
			fmt.Fprintln(stderr, "pm4ml:", err)
			return 1
		}
		// A stack file that holds secrets (secure: values) is the real stack: the secrets its
		// settings require must all be there, as the program requires them. One without any (an
		// example, a file under review) is checked as by render, and the required ones are listed.
		withSecrets := stacks.HasSecrets(src)
		load := stacks.LoadForRender
		if withSecrets && args[0] == "validate" {
			load = stacks.Load
		}
		cfg, err := load(src)
		if err != nil {
			fmt.Fprintf(stderr, "pm4ml: %s: %v\n", path, err)
			return 1
		}
		if args[0] == "validate" {
			fmt.Fprintf(stdout, "%s: valid (%s, %d hosts)\n", path, cfg.Environment, len(cfg.Hosts))
			if !withSecrets {
				req := stacks.RequiredSecrets(cfg)
				fmt.Fprintf(stdout, "This file sets no secret; these settings require %d (pulumi config set --secret):\n", len(req))
				for _, k := range stacks.SecretKeys {
					if how, ok := req[k]; ok {
						fmt.Fprintf(stdout, "  %s:%s  %s\n", stacks.Namespace, k, how)
					}
				}
			}
			return 0
		}
		if *out == "" {
			fmt.Fprintln(stderr, "pm4ml render: --out DIR is required")
			return 2
		}
		arts, err := stacks.Render(cfg)
		if err != nil {
			fmt.Fprintln(stderr, "pm4ml:", err)
			return 1
		}
		if err := write(*out, arts); err != nil {
			fmt.Fprintln(stderr, "pm4ml:", err)
			return 1
		}
		fmt.Fprintf(stdout, "rendered %d files for %d hosts into %s (see MANIFEST.md)\n", len(arts), len(cfg.Hosts), *out)
		return 0
	case "checklist":
		return runChecklist(args[1:], stdout, stderr)
	case "drift":
		return runDrift(args[1:], stdout, stderr)
	case "ports":
		fmt.Fprint(stdout, stacks.PortTableMarkdown())
		return 0
	case "config-reference":
		fmt.Fprint(stdout, stacks.ConfigReferenceMarkdown())
		return 0
	case "readme":
		path := "README.md"
		if len(args) > 1 {
			path = args[1]
		}
		b, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintln(stderr, "pm4ml:", err)
			return 1
		}
		text, changed, err := stacks.UpdateReadme(string(b))
		if err != nil {
			fmt.Fprintln(stderr, "pm4ml:", err)
			return 1
		}
		if changed {
			if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
				fmt.Fprintln(stderr, "pm4ml:", err)
				return 1
			}
			fmt.Fprintln(stdout, "updated the generated sections of", path)
		} else {
			fmt.Fprintln(stdout, path, "is up to date")
		}
		return 0
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "pm4ml: unknown command %q\n%s", args[0], usage)
	return 2
}

// previousRender lists the files of an earlier render in dir (MANIFEST.md included), or nothing
// for a missing or empty dir; it refuses any other dir.
func previousRender(dir string) ([]string, error) {
	if dir == "" {
		return nil, errors.New("--out is empty")
	}
	var present []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			present = append(present, filepath.ToSlash(rel))
		}
		return nil
	})
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, err
	case len(present) == 0:
		return nil, nil
	}
	b, err := os.ReadFile(filepath.Join(dir, "MANIFEST.md"))
	if err != nil || !strings.HasPrefix(string(b), stacks.ManifestTitle) {
		return nil, fmt.Errorf("refusing to write into %s: it is not empty and holds no MANIFEST.md written by pm4ml render (%d file(s) there, e.g. %s); give an empty or new directory", dir, len(present), present[0])
	}
	listed := map[string]bool{"MANIFEST.md": true}
	for _, f := range stacks.ManifestFiles(string(b)) {
		listed[f] = true
	}
	for _, f := range present {
		if !listed[f] {
			return nil, fmt.Errorf("refusing to write into %s: %s is not a file of the earlier render its MANIFEST.md lists; move it away or give another directory", dir, f)
		}
	}
	return present, nil
}

// removeEmptyDirs removes the directories of dir left empty (deepest first), keeping dir.
func removeEmptyDirs(dir string) {
	var dirs []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && p != dir {
			dirs = append(dirs, p)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		_ = os.Remove(dirs[i]) // fails on a non-empty dir, as wanted
	}
}

// write replaces DIR's previous render with the new one. It never deletes what it did not write:
// DIR must be absent, empty, or an earlier render output (a MANIFEST.md written by render that
// lists every file there); only the files that manifest lists are removed.
func write(dir string, arts []stacks.Artifact) error {
	old, err := previousRender(dir)
	if err != nil {
		return err
	}
	for _, f := range old {
		if err := os.Remove(filepath.Join(dir, filepath.FromSlash(f))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	removeEmptyDirs(dir)
	for _, a := range arts {
		p := filepath.Join(dir, filepath.FromSlash(a.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(a.Content), os.FileMode(a.Mode)); err != nil {
			return err
		}
	}
	return nil
}
