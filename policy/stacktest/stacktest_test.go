package stacktest_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/pm4ml/pm4ml-onprem/components/hostprep"
	"github.com/pm4ml/pm4ml-onprem/components/microk8s"
	"github.com/pm4ml/pm4ml-onprem/policy/rules"
	"github.com/pm4ml/pm4ml-onprem/policy/stacktest"
	"github.com/pm4ml/pm4ml-onprem/stacks"
)

var tokenRe = regexp.MustCompile(`^pm4ml:[a-z0-9]+:[A-Z][A-Za-z0-9]*$`)

// registeredOutputs reads, from the source of every component package (and stacks/), the keys of
// the pulumi.Map literal each passes to ctx.RegisterResourceOutputs, by type token.
func registeredOutputs(t *testing.T) map[string][]string {
	t.Helper()
	root := stacktest.RepoRoot(t)
	dirs, err := filepath.Glob(filepath.Join(root, "components", "*"))
	if err != nil {
		t.Fatal(err)
	}
	dirs = append(dirs, filepath.Join(root, "stacks"))
	out := map[string][]string{}
	for _, dir := range dirs {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		var tokens []string
		var keys []string
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			file, err := parser.ParseFile(token.NewFileSet(), f, src, 0)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			ast.Inspect(file, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.ValueSpec:
					for _, v := range n.Values {
						if bl, ok := v.(*ast.BasicLit); ok && bl.Kind == token.STRING {
							if s, _ := strconv.Unquote(bl.Value); tokenRe.MatchString(s) {
								tokens = append(tokens, s)
							}
						}
					}
				case *ast.CallExpr:
					sel, ok := n.Fun.(*ast.SelectorExpr)
					if !ok || sel.Sel.Name != "RegisterResourceOutputs" || len(n.Args) != 2 {
						return true
					}
					lit, ok := n.Args[1].(*ast.CompositeLit)
					if !ok {
						t.Errorf("%s: RegisterResourceOutputs without a map literal", f)
						return true
					}
					for _, e := range lit.Elts {
						if kv, ok := e.(*ast.KeyValueExpr); ok {
							if bl, ok := kv.Key.(*ast.BasicLit); ok {
								s, _ := strconv.Unquote(bl.Value)
								keys = append(keys, s)
							}
						}
					}
				}
				return true
			})
		}
		if len(keys) == 0 {
			continue
		}
		tokens = slices.Compact(slices.Sorted(slices.Values(tokens)))
		if len(tokens) != 1 {
			t.Fatalf("%s registers outputs but has type tokens %v (want exactly one)", dir, tokens)
		}
		sort.Strings(keys)
		out[tokens[0]] = slices.Compact(keys)
	}
	return out
}

// TestComponentOutputsEquivalence: for every component the pack reads, the harness resolves
// exactly the outputs the component registers with RegisterResourceOutputs (read from its source),
// so the in-process pack sees what the engine's AnalyzeStack would; every output the pack reads is
// registered.
func TestComponentOutputsEquivalence(t *testing.T) {
	reg := registeredOutputs(t)
	for _, tok := range []string{hostprep.Token, microk8s.Token, stacks.FactsToken} {
		if len(reg[tok]) == 0 {
			t.Fatalf("no registered outputs found for %s: the source scan is broken", tok)
		}
	}
	for tok, keys := range rules.OutputsRead {
		for _, k := range keys {
			if !slices.Contains(reg[tok], k) {
				t.Errorf("the pack reads %s output %q, which the component does not register (it registers %v)", tok, k, reg[tok])
			}
		}
	}
	for _, stack := range []string{"prod", "stg"} {
		res := stacktest.Build(t, stack, stacktest.Options{})
		seen := map[string]int{}
		for _, r := range res.Resources {
			want, ok := reg[r.Type]
			if !ok {
				continue
			}
			seen[r.Type]++
			_, read := rules.OutputsRead[r.Type]
			for _, k := range want {
				if _, ok := r.Properties.GetOk(k); !ok {
					if !read {
						// The pack reads nothing of this component: a registered output without a
						// struct field only makes the in-process view smaller than the engine's.
						t.Logf("%s: %s %s: registered output %q has no struct field (not read by the pack)", stack, r.Type, r.Name, k)
						continue
					}
					t.Errorf("%s: %s %s: registered output %q not resolved by stacks.StackComponents", stack, r.Type, r.Name, k)
				}
			}
			if read && r.Properties.Len() != len(want) {
				var got []string
				for k := range r.Properties.All {
					got = append(got, k)
				}
				sort.Strings(got)
				t.Errorf("%s: %s %s: resolved %v, the component registers %v", stack, r.Type, r.Name, got, want)
			}
		}
		for _, tok := range []string{hostprep.Token, microk8s.Token, stacks.FactsToken, "pm4ml:storage:Storage", "pm4ml:haproxy:LoadBalancer"} {
			if seen[tok] == 0 {
				t.Errorf("%s: no %s resource in the built stack", stack, tok)
			}
		}
		if n := len(stacktest.StackComponents(res.Stack)); n == 0 {
			t.Errorf("%s: StackComponents found no component", stack)
		}
	}
}

// TestHostPrepFactsFromTheStack: the hostprep outputs without a struct field (host, address,
// roles) come from the Stack's hosts in order, as Build hands them to hostprep.
func TestHostPrepFactsFromTheStack(t *testing.T) {
	res := stacktest.Build(t, "stg", stacktest.Options{})
	for _, h := range res.Stack.Hosts.Hosts {
		i := stacktest.Find(t, res.Resources, hostprep.Token, "prep-"+h.Name)
		p := res.Resources[i].Properties
		if v := stacktest.Get(p, "host"); !v.IsString() || v.AsString() != h.Name {
			t.Errorf("%s: host %v", h.Name, v)
		}
		if v := stacktest.Get(p, "address"); !v.IsString() || v.AsString() != h.Address {
			t.Errorf("%s: address %v, want %s", h.Name, v, h.Address)
		}
		var roles []string
		for _, r := range stacktest.Get(p, "roles").AsArray().AsSlice() {
			roles = append(roles, r.AsString())
		}
		if strings.Join(roles, "+") != h.Roles.String() {
			t.Errorf("%s: roles %v, want %s", h.Name, roles, h.Roles)
		}
		if rows := stacktest.Get(p, "firewall"); !rows.IsArray() || rows.AsArray().Len() == 0 {
			t.Errorf("%s: no firewall rows", h.Name)
		}
	}
}
