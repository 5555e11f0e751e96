// Package remotecmd renders remote scripts and runs them on hosts with pulumi-command. It is the
// one place that decides how a script reaches a host (sudo, bash, stdin for secrets, logging), so
// that what the render command writes for review is byte for byte what runs.
package remotecmd

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"text/template/parse"

	"github.com/pulumi/pulumi-command/sdk/go/command/remote"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/pm4ml/pm4ml-onprem/components/hosts"
)

//go:embed lib.sh
var lib string

// Script is one rendered remote script.
type Script struct {
	// Step names the script (e.g. "hostprep-preflight"); it is $0 on the host and the file name
	// (Step + ".sh") in the render output.
	Step string
	// Body is the complete script, shebang and library included.
	Body string
	// DeleteBody optionally runs when the resource is deleted (e.g. a node leaving).
	DeleteBody string
	// Secret marks a step through which a secret passes (on stdin): its output is never logged
	// and stdout/stderr are secret in the state.
	Secret bool
}

// Render executes a text/template with data and wraps the result as a complete script: shebang,
// strict mode, the shared library, the body, and the closing change summary.
func Render(step string, tmpl *template.Template, data any) (Script, error) {
	var b strings.Builder
	if err := tmpl.Execute(&b, data); err != nil {
		return Script{}, fmt.Errorf("render %s: %w", step, err)
	}
	return Script{Step: step, Body: Wrap(step, b.String())}, nil
}

// Library is the shell library (lib.sh) every script carries, as Wrap puts it in.
func Library() string { return lib }

// Wrap turns a script body into a complete script.
func Wrap(step, body string) string {
	var b strings.Builder
	b.WriteString("#!/usr/bin/env bash\n")
	fmt.Fprintf(&b, "# %s: rendered by pm4ml-onprem; do not edit on the host.\n", step)
	b.WriteString("set -euo pipefail\n")
	fmt.Fprintf(&b, "PM4ML_STEP=%s\n", step)
	b.WriteString(lib)
	b.WriteString(strings.TrimSpace(body))
	b.WriteString("\nfinish\n")
	return b.String()
}

// Funcs are the template helpers every script template may use.
var Funcs = template.FuncMap{
	"quote": Quote,
	"words": Words,
	"safe":  Safe,
	"raw":   Raw,
	"table": Table,
}

// Templates parses a component's templates and makes every output action safe by construction:
// an action that does not end in `quote` (a shell word in single quotes) or `raw` (text built by
// the program from typed data, e.g. a rendered configuration file) gets `safe` appended, which
// refuses at render time any value with a character outside safeWord. A value therefore reaches a
// script or a configuration file either quoted or as a plain word; never as shell or config syntax
// (a quote, `$`, a backtick, `;`, a blank, a newline, `\`), whatever the template writer did.
func Templates(name string, fsys fs.FS, patterns ...string) *template.Template {
	t := template.Must(template.New(name).Funcs(Funcs).ParseFS(fsys, patterns...))
	for _, tt := range t.Templates() {
		if tt.Tree != nil && tt.Tree.Root != nil {
			autoSafe(tt.Tree.Root)
		}
	}
	return t
}

// Escapers are the functions that end an action safely; any other action gets `safe`.
var Escapers = []string{"quote", "safe", "raw", "words", "table"}

func autoSafe(n parse.Node) {
	switch x := n.(type) {
	case *parse.ListNode:
		if x == nil {
			return
		}
		for _, c := range x.Nodes {
			autoSafe(c)
		}
	case *parse.ActionNode:
		if len(x.Pipe.Decl) > 0 || endsEscaped(x.Pipe) {
			return
		}
		id := parse.NewIdentifier("safe").SetPos(x.Pos)
		x.Pipe.Cmds = append(x.Pipe.Cmds, &parse.CommandNode{NodeType: parse.NodeCommand, Pos: x.Pos, Args: []parse.Node{id}})
	case *parse.IfNode:
		autoSafe(x.List)
		autoSafe(x.ElseList)
	case *parse.RangeNode:
		autoSafe(x.List)
		autoSafe(x.ElseList)
	case *parse.WithNode:
		autoSafe(x.List)
		autoSafe(x.ElseList)
	}
}

func endsEscaped(p *parse.PipeNode) bool {
	last := p.Cmds[len(p.Cmds)-1]
	id, ok := last.Args[0].(*parse.IdentifierNode)
	return ok && slices.Contains(Escapers, id.Ident)
}

// safeWord is what a value may contain to be written unquoted into a script or a configuration
// file: no blank, quote, `$`, backtick, `;`, `&`, `|`, `<`, `>`, `(`, `)`, `*`, `?`, `[`, `\`,
// `#`, `!`, `{`, `}` or control character.
var safeWord = regexp.MustCompile(`^[A-Za-z0-9._/:@%+=,~\[\]-]*$`) // brackets: IPv6 endpoints ([2001:db8::1]:51820), written into configuration files only

// safeByte is safeWord's character class as a table, derived from it: Safe runs for every
// value of every template action (hundreds of thousands at 300 hosts), and a regexp match each
// was a good part of rendering.
var safeByte = func() (t [256]bool) {
	for c := range t {
		t[c] = c < 0x80 && safeWord.MatchString(string(rune(c)))
	}
	return t
}()

func isSafeWord(s string) bool {
	for i := 0; i < len(s); i++ {
		if !safeByte[s[i]] {
			return false
		}
	}
	return true
}

// Safe returns v as text when it is a plain word (safeWord), else an error naming the value: the
// stack validation admits no such value where a template writes it unquoted, so this is an
// invariant, not a rule.
func Safe(v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		s = fmt.Sprint(v)
	}
	if !isSafeWord(s) {
		return "", fmt.Errorf("%q cannot be written unquoted into a script or configuration file: pass it through quote", s)
	}
	return s, nil
}

// Words joins plain words (each checked as by Safe) with sep, e.g. a list of addresses.
func Words(list []string, sep string) (string, error) {
	for _, w := range list {
		if _, err := Safe(w); err != nil {
			return "", err
		}
	}
	return strings.Join(list, sep), nil
}

// Table is per-stack data a script reads (peers, backends, nodes): one line per row, its
// fields separated by one blank, each field checked as by Safe, every line ending in a newline.
// A script embeds it once, in a quoted heredoc, and loops over it with `while read -r`, so the
// script grows by one short line per row instead of one block of commands per row.
func Table(rows [][]string) (string, error) {
	n := 0
	for _, r := range rows {
		for _, f := range r {
			n += len(f) + 1
		}
	}
	var b strings.Builder
	b.Grow(n)
	for _, r := range rows {
		for i, f := range r {
			if !isSafeWord(f) || f == "" {
				return "", fmt.Errorf("%q cannot be a field of a data line: use a non-empty plain word", f)
			}
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(f)
		}
		b.WriteByte('\n')
	}
	return b.String(), nil
}

// Raw marks text the program itself built from typed, validated data (e.g. a rendered
// configuration file embedded in a script through a quoted heredoc): written as it is.
func Raw(s string) string { return s }

// Quote single-quotes s for a POSIX shell.
func Quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2 + 3*strings.Count(s, "'"))
	quoteTo(&b, s)
	return b.String()
}

func quoteTo(b *strings.Builder, s string) {
	b.WriteByte('\'')
	for {
		i := strings.IndexByte(s, '\'')
		if i < 0 {
			break
		}
		b.WriteString(s[:i])
		b.WriteString(`'\''`)
		s = s[i+1:]
	}
	b.WriteString(s)
	b.WriteByte('\'')
}

// Hash is the sha256 of a script, used as a trigger so a changed script re-runs.
func Hash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:8])
}

// Invocation is the command line pulumi-command sends: the script runs under bash as root (sudo
// for a non-root user), and gets the SSH client address as $1 so a firewall step can refuse to
// lock out the session that runs it. Stdin stays free for secrets.
func Invocation(user, step, body string) string {
	sudo := "sudo -n "
	if user == "root" {
		sudo = ""
	}
	// one builder, no intermediate copies: at 300 hosts the scripts are tens of megabytes
	const tail = ` "${SSH_CONNECTION%% *}"`
	var b strings.Builder
	b.Grow(len(sudo) + len("bash -c ''") + len(body) + 3*strings.Count(body, "'") + 1 + len(step) + len(tail))
	b.WriteString(sudo)
	b.WriteString("bash -c ")
	quoteTo(&b, body)
	b.WriteByte(' ')
	b.WriteString(step)
	b.WriteString(tail)
	return b.String()
}

// CheckInvocation is Invocation in check mode (lib.sh): the same script, user and sudo, with the
// word "check" after the client address; it changes nothing and reports drift.
func CheckInvocation(user, step, body string) string {
	return Invocation(user, step, body) + " check"
}

// Options of one remote step.
type Options struct {
	User  string
	Stdin pulumi.StringInput // secret input; only with Script.Secret
	// Triggers replace (re-run) the step when they change, besides a changed script.
	Triggers pulumi.Array
	// Subject is the identity of the machine a step is about when it runs on another host (a
	// join token registered on a master for the node that joins): the step is replaced when
	// that machine is replaced, and only updated (run again there) when the host it runs on
	// changes. The host's Identity stays first in the triggers, inert (see Inert). Nil: the step
	// is about the host it runs on.
	Subject pulumi.StringInput
	// Movable marks a step about the cluster rather than the host it runs on (a cluster-wide
	// setting applied from the first master): the host's Identity stays in its triggers, inert,
	// so a change of host is an update (the step runs again on the new host), never a
	// replacement, and its outputs and ID stay known in a preview.
	Movable bool
	// Lost marks a step about a machine gone for good (a token or drain step for a lost node,
	// run on a master): frozen as a step on a lost host is (Run).
	Lost bool
	// Inert are trigger values never compared (IgnoreChanges on their positions): a value an
	// earlier version of the step replaced it on, kept so that a step of an existing stack keeps
	// its triggers' shape and upgrading the program replaces nothing.
	Inert pulumi.Array
}

// triggers are a step's triggers, the live ones first-come as before (the host's identity or the
// subject, then Options.Triggers), and the IgnoreChanges paths of the inert ones.
func triggers(h hosts.Host, o Options) (pulumi.Array, []string) {
	var out pulumi.Array
	var inert []string
	add := func(v pulumi.Input, live bool) {
		if !live {
			inert = append(inert, fmt.Sprintf("triggers[%d]", len(out)))
		}
		out = append(out, v)
	}
	switch {
	case o.Subject != nil:
		add(h.Identity, false)
		add(o.Subject, true)
	case o.Movable:
		add(h.Identity, false)
	default:
		add(h.Identity, true)
	}
	for _, v := range o.Triggers {
		add(v, true)
	}
	for _, v := range o.Inert {
		add(v, false)
	}
	return out, inert
}

// Frozen is the script a lost machine's step is registered with (Run freezes it: its recorded
// inputs stay, it never runs). Any rendered script of the component will do; it is secret like
// the membership steps it stands for, so their recorded stdin and outputs stay secret.
func Frozen(s Script) Script { return Script{Step: s.Step, Body: s.Body, Secret: true} }

// MarkedLost refuses hosts passed to a component as lost that the hosts component did not mark
// lost (hosts.Host.Lost): the component would register their steps frozen for a live machine.
func MarkedLost(component string, lost []hosts.Host) error {
	for _, h := range lost {
		if !h.Lost {
			return fmt.Errorf("%s: host %q is passed as lost but not marked lost (take Hosts.Lost from the hosts component)", component, h.Name)
		}
	}
	return nil
}

// Machines resolves the host names of a component's plan to the machines the component was
// given (its Args.Hosts, from the hosts component), before anything is registered: every live
// host needs a machine and an entry in after (what its first step waits for: its hostprep
// Ready); every lost host needs a machine marked lost (MarkedLost). It returns the machines by name, the lost ones in
// plan order and every problem at once, each naming the component and the host.
func Machines(component string, given []hosts.Host, live, lost []string, after map[string]pulumi.Resource) (map[string]hosts.Host, []hosts.Host, []error) {
	byName := make(map[string]hosts.Host, len(given))
	for _, h := range given {
		byName[h.Name] = h
	}
	var errs []error
	for _, n := range live {
		if h, ok := byName[n]; !ok {
			errs = append(errs, fmt.Errorf("%s: no machine for host %s (Args.Hosts): every pm4ml:hosts entry of the plan needs one; fix: pass the machines of the hosts component", component, n))
		} else if h.Conn == nil || h.Identity == nil {
			errs = append(errs, fmt.Errorf("%s: host %s has no SSH connection or identity; fix: pass the machines of the hosts component", component, n))
		}
		if after[n] == nil {
			errs = append(errs, fmt.Errorf("%s: no After entry for host %s; fix: pass its host preparation (hostprep Ready)", component, n))
		}
	}
	var lostHosts []hosts.Host
	for _, n := range lost {
		h, ok := byName[n]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: no machine for the lost host %s (Args.Hosts); fix: pass Hosts.Lost of the hosts component", component, n))
			continue
		}
		lostHosts = append(lostHosts, h)
	}
	if err := MarkedLost(component, lostHosts); err != nil {
		errs = append(errs, err)
	}
	return byName, lostHosts, errs
}

// Names are the host names of a plan's nodes, for Machines (name reads one node's).
func Names[T any](nodes []T, name func(T) string) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = name(n)
	}
	return out
}

// Run registers the remote.Command of a script on a host. The host's Ready resources are
// dependencies and its Identity (or Options.Subject) a trigger (a replaced machine is prepared
// again); a changed script or connection is an update, on which pulumi-command runs `create`
// again.
func Run(ctx *pulumi.Context, name string, h hosts.Host, s Script, o Options, opts ...pulumi.ResourceOption) (*remote.Command, error) {
	trig, inert := triggers(h, o)
	args := &remote.CommandArgs{
		Connection: h.Conn,
		Create:     pulumi.String(Invocation(o.User, s.Step, s.Body)),
		Triggers:   trig,
	}
	if h.Lost || o.Lost {
		// Frozen: every input keeps its recorded value, so the step is never updated or replaced
		// (it would run on, or about, a machine that is gone), and RetainOnDelete records that
		// removing it from the program only forgets it: its delete never runs. The components
		// remove a lost machine's memberships from a survivor instead. Inputs as usual, so that
		// a host marked lost before it ever had the step fails to create it (unreachable) rather
		// than records a step that never ran.
		inert = []string{"*"}
		opts = append(opts, pulumi.RetainOnDelete(true))
	}
	if len(inert) > 0 {
		opts = append(opts, pulumi.IgnoreChanges(inert))
	}
	if s.DeleteBody != "" {
		args.Delete = pulumi.String(Invocation(o.User, s.Step+"-delete", s.DeleteBody))
	}
	if s.Secret {
		args.Logging = remote.LoggingNone
		if o.Stdin != nil {
			args.Stdin = pulumi.ToSecret(o.Stdin).(pulumi.StringOutput)
		}
		opts = append(opts, pulumi.AdditionalSecretOutputs([]string{"stdout", "stderr", "stdin"}))
	} else if o.Stdin != nil {
		return nil, fmt.Errorf("remotecmd %s: stdin is only for secret steps", name)
	}
	if len(h.Ready) > 0 {
		opts = append(opts, pulumi.DependsOn(h.Ready))
	}
	return remote.NewCommand(ctx, name, args, opts...)
}
