// Command pm4ml is the project's offline helper: it renders what each host will receive, validates
// a stack file, and prints the port matrix and the configuration reference. It never contacts a
// host, never needs credentials and never decrypts a secret.
//
//	go run ./cmd/pm4ml render   --stack stg --out build/render/stg   # or --config path/to/Pulumi.x.yaml
//	go run ./cmd/pm4ml validate --stack prod
//	go run ./cmd/pm4ml ports                                           # the port matrix, as markdown
//	go run ./cmd/pm4ml config-reference                                # the configuration keys, as markdown
//	go run ./cmd/pm4ml readme                                          # regenerate those README sections
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/pm4ml/pm4ml-onprem/stacks"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

const usage = `usage: pm4ml <command> [flags]
commands:
  render   --stack NAME | --config FILE  --out DIR   write every script and config file each host receives
  validate --stack NAME | --config FILE              check a stack's configuration, report every problem
  ports                                              print the port matrix (guide 1.3) as markdown
  config-reference                                   print the configuration keys as markdown
  readme [FILE]                                      regenerate the README's port table and config reference
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
		stack := fs.String("stack", "", "stack name: reads Pulumi.<stack>.yaml in --dir")
		file := fs.String("config", "", "path of a stack file (instead of --stack)")
		dir := fs.String("dir", ".", "project directory holding the stack files")
		out := fs.String("out", "", "output directory (render)")
		if err := fs.Parse(args[1:]); err != nil {
			return 2
		}
		path := *file
		if path == "" {
			if *stack == "" {
				fmt.Fprintln(stderr, "pm4ml: give --stack NAME or --config FILE")
				return 2
			}
			path = filepath.Join(*dir, "Pulumi."+*stack+".yaml")
		}
		src, err := stacks.ReadStackFile(path)
		if err != nil {
			fmt.Fprintln(stderr, "pm4ml:", err)
			return 1
		}
		cfg, err := stacks.LoadForRender(src)
		if err != nil {
			fmt.Fprintf(stderr, "pm4ml: %s: %v\n", path, err)
			return 1
		}
		if args[0] == "validate" {
			fmt.Fprintf(stdout, "%s: valid (%s, %d hosts)\n", path, cfg.Environment, len(cfg.Hosts))
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

// write replaces DIR's previous render with the new one.
func write(dir string, arts []stacks.Artifact) error {
	if dir == "" || dir == "/" {
		return errors.New("refusing to write into " + dir)
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
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
