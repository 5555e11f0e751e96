package checklist

import (
	"context"
	"fmt"
	"os"
	"strings"

	git "github.com/go-git/go-git/v6"
	"github.com/go-git/go-git/v6/plumbing"
	"github.com/go-git/go-git/v6/plumbing/client"
	githttp "github.com/go-git/go-git/v6/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v6/plumbing/transport/ssh"
)

// Repository auth types (pm4ml:gitops.credentials, as components/argocd names them).
const (
	AuthHTTPSToken = "https-token"
	AuthSSHKey     = "ssh-key"
	AuthNone       = "none"
)

// Repo is the GitOps repository Argo CD reads.
type Repo struct {
	URL      string
	Revision string // branch, tag, commit or HEAD
	Auth     string // AuthHTTPSToken, AuthSSHKey or AuthNone
	Username string // for https-token (default "git")
}

// Checkout clones repo at its revision into a new temporary directory with the credential
// (a token or an SSH private key; "" for none). The caller removes the directory.
func Checkout(ctx context.Context, repo Repo, credential string) (string, error) {
	dir, err := os.MkdirTemp("", "pm4ml-gitops-")
	if err != nil {
		return "", err
	}
	fail := func(err error) (string, error) {
		os.RemoveAll(dir)
		return "", fmt.Errorf("clone %s at %s: %w (the checklist reads what Argo CD will: the repository at pm4ml:gitops.revision)", repo.URL, revOrHead(repo.Revision), err)
	}
	o := &git.CloneOptions{URL: repo.URL, NoCheckout: true}
	switch repo.Auth {
	case AuthHTTPSToken:
		user := repo.Username
		if user == "" {
			user = "git"
		}
		o.ClientOptions = append(o.ClientOptions, client.WithHTTPAuth(&githttp.BasicAuth{Username: user, Password: credential}))
	case AuthSSHKey:
		user := "git"
		if at := strings.Index(repo.URL, "@"); at > 0 && !strings.Contains(repo.URL[:at], "/") {
			user = repo.URL[:at]
		}
		keys, err := gitssh.NewPublicKeys(user, []byte(credential), "")
		if err != nil {
			return fail(fmt.Errorf("the SSH key (pm4ml:gitopsCredential) is not usable: %w", err))
		}
		o.ClientOptions = append(o.ClientOptions, client.WithSSHAuth(keys))
	}
	r, err := git.PlainCloneContext(ctx, dir, o)
	if err != nil {
		return fail(err)
	}
	h, err := resolve(r, repo.Revision)
	if err != nil {
		return fail(err)
	}
	wt, err := r.Worktree()
	if err != nil {
		return fail(err)
	}
	if err := wt.Checkout(&git.CheckoutOptions{Hash: *h, Force: true}); err != nil {
		return fail(err)
	}
	return dir, nil
}

func revOrHead(rev string) string {
	if rev == "" {
		return "HEAD"
	}
	return rev
}

// resolve finds the revision as Argo CD would: HEAD, a branch of origin, a tag, or a commit.
func resolve(r *git.Repository, rev string) (*plumbing.Hash, error) {
	rev = revOrHead(rev)
	cands := []string{rev}
	if rev != "HEAD" {
		cands = []string{"refs/remotes/origin/" + rev, "refs/tags/" + rev, rev}
	} else {
		cands = []string{"refs/remotes/origin/HEAD", "HEAD"}
	}
	var last error
	for _, c := range cands {
		h, err := r.ResolveRevision(plumbing.Revision(c))
		if err == nil {
			return h, nil
		}
		last = err
	}
	return nil, fmt.Errorf("revision %s not found: %v", rev, last)
}
