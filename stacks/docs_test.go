package stacks

import (
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// The README's port table and configuration reference are generated from the code; this fails
// when they are stale (fix: go run ./cmd/pm4ml readme).
func TestReadmeGeneratedSectionsAreCurrent(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, changed, err := UpdateReadme(string(b))
	if err != nil {
		t.Fatal(err)
	}
	if changed {
		t.Fatal("README.md's generated sections are stale: run `go run ./cmd/pm4ml readme`")
	}
}

// Every leaf key of Config appears in the README's reference.
func TestConfigReferenceListsEveryKey(t *testing.T) {
	ref := ConfigReferenceMarkdown()
	for _, k := range []string{"pm4ml:hosts[].roles", "pm4ml:network.adminAllowlist", "pm4ml:haproxy.publicVip",
		"pm4ml:wireguard.peers[].publicKey", "pm4ml:riskAcceptance", "pm4ml:waves[].apps[].path", "pm4ml:sshPrivateKey"} {
		if !strings.Contains(ref, "`"+k+"`") {
			t.Errorf("config reference lacks %s", k)
		}
	}
}

func TestUpdateReadmeNeedsMarkers(t *testing.T) {
	if _, _, err := UpdateReadme("no markers"); err == nil {
		t.Fatal("want an error for a README without generated sections")
	}
}

// TestEveryDefaultIsDocumented: every key applyDefaults fills (on each shipped stack, and on the
// prod stack with wireguard and stats on) has its default in DefaultDoc, so the configuration
// reference shows it, and DefaultDoc names no key that is never defaulted.
func TestEveryDefaultIsDocumented(t *testing.T) {
	used := map[string]bool{}
	for _, stack := range []string{"prod", "stg"} {
		src := stackSource(t, stack)
		del("argocd")(t, src) // the test fixture sets manifestPath; the default manifestUrl is what matters
		if stack == "prod" {
			set("wireguard", map[string]any{"enabled": true, "address": "10.200.0.1/24"})(t, src)
			del("haproxy.statsPort")(t, src)
			del("ssh.port")(t, src)
			del("haproxy.interface")(t, src)
			del("vault.kvVersion")(t, src)
		}
		cfg, errs := decode(src)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		before := leafValues(reflect.ValueOf(cfg).Elem(), "")
		applyDefaults(cfg)
		after := leafValues(reflect.ValueOf(cfg).Elem(), "")
		for pattern, v := range after {
			if before[pattern] == v {
				continue
			}
			doc := pattern
			for doc != "" && DefaultDoc[doc] == "" {
				doc = parentPattern(doc)
			}
			if doc == "" {
				t.Errorf("%s: pm4ml:%s is defaulted (%q) but has no entry in DefaultDoc", stack, pattern, v)
			}
			used[doc] = true
		}
	}
	for k := range DefaultDoc {
		if !used[k] && !slices.Contains([]string{"proxmox.prefixLength", "hosts[].proxmox.node", "ssh.bastion.user", "ssh.bastion.port", "gitops.username", "haproxy.internalVip"}, k) {
			t.Errorf("DefaultDoc documents pm4ml:%s, which no shipped stack defaults", k)
		}
	}
}

func parentPattern(p string) string {
	if i := strings.LastIndexAny(p, ".["); i > 0 {
		return p[:i]
	}
	return ""
}

// leafValues maps each leaf pattern (indexes as []) to the values there, joined.
func leafValues(v reflect.Value, pattern string) map[string]string {
	out := map[string]string{}
	var walk func(v reflect.Value, pattern string)
	walk = func(v reflect.Value, pattern string) {
		switch v.Kind() {
		case reflect.Pointer:
			if v.IsNil() {
				out[pattern] += "<nil>;"
				return
			}
			walk(v.Elem(), pattern)
		case reflect.Struct:
			for i := 0; i < v.NumField(); i++ {
				f := v.Type().Field(i)
				if n := jsonName(f); n != "" && f.IsExported() {
					walk(v.Field(i), join(pattern, n))
				}
			}
		case reflect.Slice:
			out[pattern] += fmt.Sprintf("len%d;", v.Len())
			for i := 0; i < v.Len(); i++ {
				walk(v.Index(i), pattern+"[]")
			}
		case reflect.Map:
			out[pattern] += fmt.Sprintf("len%d;", v.Len())
		default:
			out[pattern] += fmt.Sprint(v.Interface()) + ";"
		}
	}
	walk(v, pattern)
	return out
}
