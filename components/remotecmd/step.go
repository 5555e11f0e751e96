package remotecmd

import (
	"fmt"
	"path"
	"strings"

	"github.com/pulumi/pulumi-command/sdk/go/command/remote"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/pm4ml/pm4ml-onprem/components/hosts"
)

// File is one rendered file a host receives: a step's script (create or delete) or a
// configuration file a script installs. The render command writes it at Path; the program runs
// the scripts (Chain, Run). Every component's render produces its files in this one shape.
type File struct {
	// Path is <host>/<component>/<name> in the render output.
	Path    string
	Mode    uint32
	Content string
	// Step is the step (Script.Step) whose script this is; "" for a configuration file.
	Step string
	// Delete marks the step's delete script (Script.DeleteBody).
	Delete bool
	// Secret: the step's stdin carries a secret at run time (the file itself holds none).
	Secret bool
	// Carried is, for a configuration file a step builds on the host from per-stack data it
	// carries (haproxy.cfg: its servers expanded from the workers' data lines, remotecmd.Table),
	// the text the script carries instead of Content; "" when the script carries Content itself.
	// The component's tests run the build and compare it with Content byte for byte.
	Carried string
}

// Name is the file's name in its component's directory.
func (f File) Name() string { return path.Base(f.Path) }

// Host is the host that receives the file.
func (f File) Host() string {
	h, _, _ := strings.Cut(f.Path, "/")
	return h
}

// Script and configuration file modes in the render output.
const (
	ScriptMode = 0o755
	ConfigMode = 0o644
)

// DeleteSuffix ends the name of a step's delete script in the render output, beside the step's
// own "<name>.sh".
const DeleteSuffix = ".delete.sh"

// ScriptFiles are the render output of one step on host: "<name>.sh" and, when the step has a
// delete script, "<name>.delete.sh", under <host>/<component>/.
func ScriptFiles(host, component, name string, s Script) []File {
	out := []File{{Path: path.Join(host, component, name+".sh"), Mode: ScriptMode, Content: s.Body, Step: s.Step, Secret: s.Secret}}
	if s.DeleteBody != "" {
		out = append(out, File{Path: path.Join(host, component, name+DeleteSuffix), Mode: ScriptMode, Content: s.DeleteBody, Step: s.Step, Delete: true})
	}
	return out
}

// ConfigFile is a configuration file a step installs on host (it is inside that step's script).
func ConfigFile(host, component, name, content string, mode uint32) File {
	return File{Path: path.Join(host, component, name), Mode: mode, Content: content}
}

// NumberedName is the file name of the i-th (0-based) step of a chain: "10-<step>", "20-<step>",
// so that a host's directory lists its scripts in execution order.
func NumberedName(i int, step string) string { return fmt.Sprintf("%d0-%s", i+1, step) }

// Link is one step of a Chain: the resource name, the script and how it runs.
type Link struct {
	Name    string
	Script  Script
	Options Options
	// Opts are extra resource options of this step (e.g. DeleteBeforeReplace).
	Opts []pulumi.ResourceOption
}

// Chain registers "these steps run on this host in this order": each link's remote command
// depends on the one before it, the first on after (none when empty). opts (e.g. the parent)
// apply to every link. It returns the commands in order.
func Chain(ctx *pulumi.Context, h hosts.Host, after []pulumi.Resource, links []Link, opts ...pulumi.ResourceOption) ([]*remote.Command, error) {
	out := make([]*remote.Command, 0, len(links))
	deps := after
	for _, l := range links {
		o := append(append([]pulumi.ResourceOption{}, opts...), l.Opts...)
		if len(deps) > 0 {
			o = append(o, pulumi.DependsOn(deps))
		}
		cmd, err := Run(ctx, l.Name, h, l.Script, l.Options, o...)
		if err != nil {
			return nil, err
		}
		out = append(out, cmd)
		deps = []pulumi.Resource{cmd}
	}
	return out, nil
}

// CustomOnly refuses ordering inputs that are not custom resources. A DependsOn on a
// ComponentResource is expanded by the Go SDK into the children registered so far, and children
// register asynchronously: the edge is then missing now and then (seen under load). Components
// expose the custom resources to wait for instead (their Ready / Upgraded / Last handles).
func CustomOnly(what string, rs []pulumi.Resource) error {
	for i, r := range rs {
		if _, ok := r.(pulumi.CustomResource); !ok {
			return fmt.Errorf("%s[%d] is %T, not a custom resource: wait for the component's Ready handle (a DependsOn on a component races with its children's registration)", what, i, r)
		}
	}
	return nil
}
