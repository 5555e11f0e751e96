package stacks

import (
	_ "embed"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"strings"
	"sync"

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

// The configuration structs' own source: their doc comments are the reference's descriptions.
//
//go:embed config.go
var configSource string

//go:embed platform.go
var platformSource string

var fieldDocs = sync.OnceValue(func() map[string]string {
	docs := map[string]string{}
	fset := token.NewFileSet()
	for _, src := range []string{configSource, platformSource, checklistSource} {
		f, err := parser.ParseFile(fset, "", src, parser.ParseComments)
		if err != nil {
			panic(err) // the package's own source: cannot fail once it compiles
		}
		ast.Inspect(f, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok {
				return true
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				return false
			}
			for _, fld := range st.Fields.List {
				text := fld.Doc.Text()
				if text == "" {
					text = fld.Comment.Text()
				}
				for _, name := range fld.Names {
					docs[ts.Name.Name+"."+name.Name] = strings.Join(strings.Fields(text), " ")
				}
			}
			return false
		})
	}
	return docs
})

// ConfigReferenceMarkdown lists every configuration key with its type and description, generated
// from Config and its doc comments.
func ConfigReferenceMarkdown() string {
	var b strings.Builder
	b.WriteString("| key | type | default | accepts | description |\n|---|---|---|---|---|\n")
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
		doc := strings.ReplaceAll(fieldDocs()[t.Name()+"."+f.Name], "|", "\\|")
		pattern := strings.TrimPrefix(k, Namespace+":")
		def := DefaultDoc[pattern]
		if def != "" {
			def = "`" + strings.ReplaceAll(def, "|", "\\|") + "`"
		}
		accepts := grammarDoc(pattern)
		if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.String {
			accepts = grammarDoc(pattern + "[]")
		}
		if ft.Kind() == reflect.Map {
			accepts = grammarDoc(pattern + ".*")
		}
		accepts = strings.ReplaceAll(accepts, "|", "\\|")
		switch {
		case ft.Kind() == reflect.Struct:
			fmt.Fprintf(b, "| `%s` | object | %s | | %s |\n", k, def, doc)
			walk(b, k, ft, false)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			fmt.Fprintf(b, "| `%s` | list of objects | %s | | %s |\n", k, def, doc)
			walk(b, k+"[]", ft.Elem(), false)
		default:
			fmt.Fprintf(b, "| `%s` | %s | %s | %s | %s |\n", k, typeName(ft), def, accepts, doc)
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
