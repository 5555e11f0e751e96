package rules

// Check of the pre-deployment-checklist rule: no placeholder secrets.

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/property"
)

var (
	placeholderWords = []string{"changeme", "change-me", "change_me", "changeit", "password", "passw0rd", "secret",
		"admin", "test", "todo", "tbd", "fixme", "placeholder", "example", "dummy", "default", "replaceme",
		"replace-me", "replace_me", "none", "null", "undefined", "foo", "bar", "123456", "12345678", "qwerty"}
	placeholderSubstrings = []string{"changeme", "change-me", "change_me", "replaceme", "replace-me", "replace_me",
		"placeholder", "your-", "your_", "insert-", "insert_"}
	angleRe       = regexp.MustCompile(`<[A-Za-z][^<>\n]{0,60}>`)
	templateRe    = regexp.MustCompile(`\$\{[^}]*\}|\{\{[^}]*\}\}`)
	prefixRe      = regexp.MustCompile(`(?i)^(todo|fixme|tbd)\b`)
	repeatRe      = regexp.MustCompile(`^(x{3,}|\*{3,}|\.{3,})$`)
	urlOrHostRe   = regexp.MustCompile(`^([a-z][a-z0-9+.-]*://|[a-z0-9._-]+@)?[a-z0-9-]+(\.[a-z0-9-]+)+([:/].*)?$`)
	tokenSplitRe  = regexp.MustCompile(`[^a-z0-9]+`)
	credentialKey = regexp.MustCompile(`(?i)(password|passwd|token|secret|api_?key|private_?key|credentials?)$`)
)

// Placeholder reports why a secret value is a placeholder ("" when it is not).
func Placeholder(value string) string {
	v := strings.TrimSpace(value)
	if v == "" {
		return ""
	}
	if m := angleRe.FindString(v); m != "" {
		return fmt.Sprintf("contains the template marker %s", m)
	}
	if strings.Contains(v, "\n") {
		return "" // keys, certificates, kubeconfigs: only template markers count
	}
	if m := templateRe.FindString(v); m != "" {
		return fmt.Sprintf("contains the unrendered template %s", m)
	}
	low := strings.ToLower(v)
	if slices.Contains(placeholderWords, low) || repeatRe.MatchString(low) {
		return fmt.Sprintf("is the placeholder %q", v)
	}
	if prefixRe.MatchString(v) {
		return "starts with a TODO/FIXME/TBD marker"
	}
	for _, sub := range placeholderSubstrings {
		if strings.Contains(low, sub) {
			return fmt.Sprintf("contains %q", sub)
		}
	}
	if urlOrHostRe.MatchString(low) {
		return "" // an example domain in a URL is not a secret placeholder; the domain rules cover hosts
	}
	for _, tok := range tokenSplitRe.Split(low, -1) {
		if tok == "example" {
			return fmt.Sprintf("contains the example marker %q", tok)
		}
	}
	return ""
}

// jsonLeaves splits a JSON object held in a string (e.g. a Vault secret's data) into its string
// leaves; any other value is one leaf.
func jsonLeaves(where, val string) [][2]string {
	var obj map[string]any
	if !strings.HasPrefix(strings.TrimSpace(val), "{") || json.Unmarshal([]byte(val), &obj) != nil {
		return [][2]string{{where, val}}
	}
	var out [][2]string
	var walk func(p string, x any)
	walk = func(p string, x any) {
		switch x := x.(type) {
		case string:
			out = append(out, [2]string{p, x})
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				walk(p+"."+k, x[k])
			}
		case []any:
			for i, e := range x {
				walk(fmt.Sprintf("%s.%d", p, i), e)
			}
		}
	}
	walk(where, obj)
	return out
}

func checkPlaceholders(s *Stack) []Finding {
	var out []Finding
	for i := range s.Resources {
		r := &s.Resources[i]
		secretKind := isKind(r.Type, "core", "Secret")
		var walk func(v property.Value, path []string, secret bool)
		walk = func(v property.Value, path []string, secret bool) {
			secret = secret || v.Secret()
			switch {
			case v.IsMap():
				keys, m, _ := entries(v)
				for _, k := range keys {
					walk(m[k], append(slices.Clone(path), k), secret)
				}
			case v.IsArray():
				for j, e := range v.AsArray().AsSlice() {
					walk(e, append(slices.Clone(path), fmt.Sprint(j)), secret)
				}
			case v.IsString():
				where := strings.Join(path, ".")
				inSecret := secretKind && len(path) == 2 && (path[0] == "data" || path[0] == "stringData")
				last := ""
				if len(path) > 0 {
					last = path[len(path)-1]
				}
				if !secret && !inSecret && !credentialKey.MatchString(last) {
					return
				}
				val := v.AsString()
				if secretKind && len(path) == 2 && path[0] == "data" {
					if b, err := base64.StdEncoding.DecodeString(val); err == nil {
						val = string(b)
					}
				}
				for _, leaf := range jsonLeaves(where, val) {
					if why := Placeholder(leaf[1]); why != "" {
						out = append(out, findingAt(r, leaf[0], fmt.Sprintf("the secret value at %s %s", leaf[0], why),
							"set the real value from the secret's owner (for stack secrets: pulumi config set --secret pm4ml:<key>; guide 6.3 \"No placeholder secrets remain\")"))
					}
				}
			}
		}
		walk(property.New(r.Properties), nil, false)
	}
	return out
}
