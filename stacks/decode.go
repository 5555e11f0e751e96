package stacks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits of the stack file, so that a pasted document is refused, not carried into state.
const (
	MaxStackFileBytes = 1 << 20 // a stack file; the 300-node stack of the benchmarks is ~60 KB
	MaxStringLen      = 256     // any string value unless its field says otherwise (maxlen=N)
	MaxListLen        = 64      // any list or map unless its field says otherwise (max=N)
)

// decode fills Config from the source, strictly and completely: unknown keys and fields, wrong
// types, values over the limits and keys in a near-miss namespace are all collected, each with its
// full key path (pm4ml:hosts[5].address), and decoding goes on with the rest of the file, so that
// every problem is reported together. Field names match exactly.
func decode(src Source) (*Config, []error) {
	cfg := &Config{Secrets: map[string]SecretState{}}
	d := &decoder{}
	v := reflect.ValueOf(cfg).Elem()
	t := v.Type()
	known := map[string]bool{}
	for i := 0; i < t.NumField(); i++ {
		name := jsonName(t.Field(i))
		if name == "" {
			continue
		}
		known[name] = true
		raw, ok := src.Get(name)
		if !ok {
			continue
		}
		k := key("%s", name)
		if src.IsSecret(name) {
			d.add(k, "is stored as a secret but is plain configuration",
				fmt.Sprintf("pulumi config set %s:%s <value> (without --secret)", Namespace, name))
			continue
		}
		d.top(k, v.Field(i), t.Field(i), raw, kindOf(src, name))
	}
	for _, s := range SecretKeys {
		known[s] = true
		raw, ok := src.Get(s)
		cfg.Secrets[s] = SecretState{Set: ok, IsSecret: ok && src.IsSecret(s)}
		if ok && !src.IsSecret(s) && len(raw) > 64<<10 {
			d.add(key("%s", s), fmt.Sprintf("is %d bytes long", len(raw)), "set the secret itself, not a document containing it")
		}
	}
	keys := slices.Clone(src.Keys())
	sort.Strings(keys)
	knownList := sortedKeys(known)
	for _, k := range keys {
		if !known[k] {
			d.add(key("%s", k), "is not a setting of this program", unknownFix(k, knownList, Namespace+":"))
		}
	}
	for _, full := range foreignKeys(src) {
		ns, _, _ := strings.Cut(full, ":")
		if ns != Namespace && nearMiss(ns, Namespace) {
			d.add(full, fmt.Sprintf("is in the namespace %q, a near miss of %q: the program would ignore it", ns, Namespace),
				fmt.Sprintf("write it as %s:%s", Namespace, strings.TrimPrefix(full, ns+":")))
		}
	}
	return cfg, d.errs
}

// kinder is implemented by sources that know the YAML kind of a top-level value.
type kinder interface{ Kind(key string) string }

func kindOf(src Source, k string) string {
	if s, ok := src.(kinder); ok {
		return s.Kind(k)
	}
	return ""
}

// foreignKeyer lists the full keys of other namespaces (pulumi:, proxmoxve:, typos of pm4ml:).
type foreignKeyer interface{ ForeignKeys() []string }

func foreignKeys(src Source) []string {
	if s, ok := src.(foreignKeyer); ok {
		out := slices.Clone(s.ForeignKeys())
		sort.Strings(out)
		return out
	}
	return nil
}

type decoder struct{ errs []error }

func (d *decoder) add(k, problem, fix string) { d.errs = append(d.errs, fieldErr(k, problem, fix)) }

// top decodes one top-level key: Pulumi hands scalars as text and objects and lists as JSON.
func (d *decoder) top(k string, dst reflect.Value, f reflect.StructField, raw, kind string) {
	ft := f.Type
	switch ft.Kind() {
	case reflect.String:
		if kind != "" && kind != "text" && kind != "number" {
			d.add(k, "must be text, got "+kind, "write a single value")
			return
		}
		d.assign(k, dst, f, raw)
		return
	case reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil || (raw != "true" && raw != "false") {
			d.add(k, fmt.Sprintf("must be true or false, got %s", describe(raw)), "write true or false")
			return
		}
		dst.SetBool(b)
		return
	}
	if kind == "text" || kind == "number" || kind == "a boolean" {
		d.add(k, fmt.Sprintf("must be %s, got %s", want(ft), describe(raw)), "see the configuration reference in README.md for its shape")
		return
	}
	var val any
	dec := json.NewDecoder(bytes.NewReader([]byte(raw)))
	dec.UseNumber()
	if err := dec.Decode(&val); err != nil {
		d.add(k, fmt.Sprintf("must be %s, got %s", want(ft), describe(raw)), "see the configuration reference in README.md for its shape")
		return
	}
	d.assign(k, dst, f, val)
}

// assign decodes val into dst (field f describes limits), reporting problems under key k.
func (d *decoder) assign(k string, dst reflect.Value, f reflect.StructField, val any) {
	if val == nil { // `key:` without a value, or null: the field stays unset
		return
	}
	lim := limitsOf(f)
	t := dst.Type()
	switch t.Kind() {
	case reflect.Pointer:
		nv := reflect.New(t.Elem())
		d.assign(k, nv.Elem(), f, val)
		dst.Set(nv)
	case reflect.String:
		s, ok := val.(string)
		if !ok {
			d.add(k, fmt.Sprintf("must be text, got %s", describe(val)), fmt.Sprintf("write it in quotes: %q", fmt.Sprint(val)))
			return
		}
		max := lim.maxLen
		if max == 0 {
			max = MaxStringLen
		}
		switch {
		case utf8.RuneCountInString(s) > max:
			d.add(k, fmt.Sprintf("is %d characters long (at most %d)", utf8.RuneCountInString(s), max), "shorten it; a stack setting is never a document")
			return
		case strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) || r == unicode.ReplacementChar }) >= 0:
			d.add(k, fmt.Sprintf("contains a control character (newline, tab, ...): %q", s), "write it on one line without control characters")
			return
		}
		dst.SetString(s)
	case reflect.Bool:
		b, ok := val.(bool)
		if !ok {
			d.add(k, fmt.Sprintf("must be true or false, got %s", describe(val)), "write true or false without quotes")
			return
		}
		dst.SetBool(b)
	case reflect.Int, reflect.Int64, reflect.Int32:
		n, ok := val.(json.Number)
		if !ok {
			fix := "write a whole number"
			if s, isText := val.(string); isText {
				fix = fmt.Sprintf("write it without quotes: %s", s)
			}
			d.add(k, fmt.Sprintf("must be a whole number, got %s", describe(val)), fix)
			return
		}
		i, err := strconv.ParseInt(n.String(), 10, 64)
		if err != nil || i < -1<<31 || i > 1<<31-1 {
			d.add(k, fmt.Sprintf("must be a whole number, got %s", n), "write a whole number such as 22")
			return
		}
		if i == 0 && lim.nonzero {
			d.add(k, "is 0", "leave the key unset for its default, or give a value in range (see the configuration reference)")
			return
		}
		dst.SetInt(i)
	case reflect.Slice:
		list, ok := val.([]any)
		if !ok {
			d.add(k, fmt.Sprintf("must be a list, got %s", describe(val)), "write a list, e.g. [a, b] or one `- item` per line")
			return
		}
		if max := lim.maxOr(MaxListLen); len(list) > max {
			d.add(k, fmt.Sprintf("has %d entries (at most %d)", len(list), max), "list fewer entries")
			return
		}
		out := reflect.MakeSlice(t, len(list), len(list))
		elem := reflect.StructField{Type: t.Elem(), Tag: f.Tag}
		for i, item := range list {
			d.assign(fmt.Sprintf("%s[%d]", k, i), out.Index(i), elem, item)
		}
		dst.Set(out)
	case reflect.Map:
		m, ok := val.(map[string]any)
		if !ok {
			d.add(k, fmt.Sprintf("must be a mapping, got %s", describe(val)), "write `name: value` entries")
			return
		}
		if max := lim.maxOr(MaxListLen); len(m) > max {
			d.add(k, fmt.Sprintf("has %d entries (at most %d)", len(m), max), "list fewer entries")
			return
		}
		out := reflect.MakeMapWithSize(t, len(m))
		elem := reflect.StructField{Type: t.Elem(), Tag: f.Tag}
		for _, mk := range sortedAny(m) {
			ev := reflect.New(t.Elem()).Elem()
			d.assign(k+"."+mk, ev, elem, m[mk])
			out.SetMapIndex(reflect.ValueOf(mk).Convert(t.Key()), ev)
		}
		dst.Set(out)
	case reflect.Struct:
		m, ok := val.(map[string]any)
		if !ok {
			d.add(k, fmt.Sprintf("must be a mapping, got %s", describe(val)), "write its fields as `name: value` (see the configuration reference in README.md)")
			return
		}
		fields := map[string]int{}
		var names []string
		for i := 0; i < t.NumField(); i++ {
			if n := jsonName(t.Field(i)); n != "" && t.Field(i).IsExported() {
				fields[n] = i
				names = append(names, n)
			}
		}
		sort.Strings(names)
		for _, mk := range sortedAny(m) {
			i, ok := fields[mk]
			if !ok {
				d.add(k+"."+mk, "is not a field of "+k, unknownFix(mk, names, ""))
				continue
			}
			d.assign(k+"."+mk, dst.Field(i), t.Field(i), m[mk])
		}
	default:
		d.add(k, "cannot be read", "see the configuration reference in README.md")
	}
}

// limits are a field's `pm4ml:"..."` tag: max=N (entries), maxlen=N (characters), nonzero (an
// explicit 0 is refused: unset means the default).
type limits struct {
	max, maxLen int
	nonzero     bool
}

func (l limits) maxOr(def int) int {
	if l.max > 0 {
		return l.max
	}
	return def
}

func limitsOf(f reflect.StructField) limits {
	var l limits
	for _, part := range strings.Split(f.Tag.Get("pm4ml"), ",") {
		name, val, _ := strings.Cut(part, "=")
		n, _ := strconv.Atoi(val)
		switch name {
		case "max":
			l.max = n
		case "maxlen":
			l.maxLen = n
		case "nonzero":
			l.nonzero = true
		}
	}
	return l
}

func sortedAny(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// describe names a value's kind in YAML terms, never Go's.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "nothing"
	case string:
		if len(x) > 40 {
			x = x[:40] + "..."
		}
		return fmt.Sprintf("the text %q", x)
	case json.Number:
		return "the number " + x.String()
	case bool:
		return fmt.Sprintf("the boolean %v", x)
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	return "a value of another kind"
}

// want names what a type expects, in YAML terms.
func want(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "a mapping"
	case reflect.Slice:
		return "a list"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "a whole number"
	}
	return "text"
}

// unknownFix suggests the closest known name, or lists the known ones.
func unknownFix(name string, known []string, prefix string) string {
	if best := closest(name, known); best != "" {
		return fmt.Sprintf("did you mean `%s%s`?", prefix, best)
	}
	return "remove it or correct its name (known: " + strings.Join(known, ", ") + ")"
}

// closest is the known name nearest to name: equal but for case, or within an edit distance of
// a third of its length (at least 2).
func closest(name string, known []string) string {
	best, bestD := "", 1<<30
	for _, k := range known {
		if strings.EqualFold(k, name) {
			return k
		}
		if d := editDistance(strings.ToLower(name), strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	if bestD <= max(2, len(name)/3) {
		return best
	}
	return ""
}

// nearMiss: a namespace that is probably a typo of want (case, one or two edits, a transposition).
func nearMiss(ns, want string) bool {
	return strings.EqualFold(ns, want) || editDistance(strings.ToLower(ns), want) <= 2
}

// editDistance is the Damerau-Levenshtein distance (optimal string alignment).
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
