package rules_test

import (
	"testing"

	"github.com/pm4ml/pm4ml-onprem/policy/rules"
)

func TestPlaceholder(t *testing.T) {
	bad := []string{"changeme", "CHANGEME", " change-me ", "password", "secret", "TODO", "todo: ask the hub", "TBD",
		"<token uuid>", "pulumi@pve!pm4ml=<token uuid>", "${MCM_SECRET}", "{{ .Values.secret }}", "xxxxxx", "******",
		"replace-me-before-prod", "your-token-here", "example", "my-example-secret", "placeholder", "dummy",
		"-----BEGIN KEY-----\n<paste the key here>\n-----END KEY-----"}
	for _, v := range bad {
		if rules.Placeholder(v) == "" {
			t.Errorf("%q is not recognised as a placeholder", v)
		}
	}
	good := []string{"", "pm4ml-test-secret-value-of-mcmClientSecret-do-not-log", "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA==",
		"s3cr3t-Kq8vN2pLm4", "https://git.example.org/fsp/pm4ml-gitops.git", "git@git.example.org:fsp/pm4ml-gitops.git",
		"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----",
		"apiVersion: v1\nkind: Config\nusers:\n- name: admin\n  user: {token: abc}\n", "8f14e45fceea167a5a36dedd4bea2543"}
	for _, v := range good {
		if why := rules.Placeholder(v); why != "" {
			t.Errorf("%q flagged: %s", v, why)
		}
	}
}
