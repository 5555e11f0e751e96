package stacks

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/pm4ml/pm4ml-onprem/components/network"
)

// PortTableMarkdown renders the port matrix for the README: the same definition the firewall,
// HAProxy and the policies use.
func PortTableMarkdown() string {
	var b strings.Builder
	b.WriteString("| id | port | proto | open on | admitted from | public | source |\n|---|---|---|---|---|---|---|\n")
	for _, r := range network.Matrix {
		ports := r.Ports.String()
		if r.Proto == network.VRRP {
			ports = "-"
		}
		on := make([]string, len(r.On))
		for i, role := range r.On {
			on[i] = string(role)
		}
		pub := ""
		if r.Public {
			pub = "yes"
		}
		from := string(r.From)
		if r.When != network.Always {
			from += " (when " + string(r.When) + ")"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", r.ID, ports, r.Proto, strings.Join(on, ", "), from, pub, r.Ref)
	}
	return b.String()
}

// ConfigReferenceMarkdown lists every configuration key with its type, generated from Config.
func ConfigReferenceMarkdown() string {
	var b strings.Builder
	b.WriteString("| key | type |\n|---|---|\n")
	walk(&b, Namespace+":", reflect.TypeOf(Config{}), true)
	b.WriteString("\nSecret keys (set with `pulumi config set --secret`): ")
	for i, k := range SecretKeys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "`%s:%s`", Namespace, k)
	}
	b.WriteString(".\n")
	return b.String()
}

func walk(b *strings.Builder, prefix string, t reflect.Type, top bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := jsonName(f)
		if name == "" {
			continue
		}
		k := prefix + name
		if !top {
			k = prefix + "." + name
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.Struct:
			fmt.Fprintf(b, "| `%s` | object |\n", k)
			walk(b, k, ft, false)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			fmt.Fprintf(b, "| `%s` | list of objects |\n", k)
			walk(b, k+"[]", ft.Elem(), false)
		default:
			fmt.Fprintf(b, "| `%s` | %s |\n", k, typeName(ft))
		}
	}
}

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Slice:
		return "list of " + typeName(t.Elem())
	case reflect.Map:
		return "map of " + typeName(t.Elem())
	case reflect.Int:
		return "integer"
	case reflect.Bool:
		return "boolean"
	}
	return "string"
}

// Generated README sections: the text between the markers is owned by the program.
var readmeSections = map[string]func() string{
	"ports":  PortTableMarkdown,
	"config": ConfigReferenceMarkdown,
}

// UpdateReadme rewrites the generated sections of a README text; it reports whether it changed.
func UpdateReadme(text string) (string, bool, error) {
	out := text
	for _, name := range []string{"ports", "config"} {
		begin := "<!-- BEGIN generated:" + name + " -->\n"
		end := "<!-- END generated:" + name + " -->"
		i := strings.Index(out, begin)
		j := strings.Index(out, end)
		if i < 0 || j < i {
			return text, false, fmt.Errorf("README has no %q ... %q section", strings.TrimSpace(begin), end)
		}
		out = out[:i+len(begin)] + readmeSections[name]() + out[j:]
	}
	return out, out != text, nil
}
