package stacks

import (
	"os"
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
