package waves

// The Kubernetes client of the wave watch: a kubeconfig parser (current context, client
// certificate, bearer token or basic auth) and an HTTP client that reads Applications.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// KubeClient reads Applications with the credentials of a kubeconfig (its current context):
// client certificate, bearer token or basic auth, over TLS verified against the kubeconfig's CA.
type KubeClient struct {
	server string
	hc     *http.Client
	token  string
	user   string
	pass   string
}

type kubeconfig struct {
	CurrentContext string `yaml:"current-context"`
	Clusters       []struct {
		Name    string `yaml:"name"`
		Cluster struct {
			Server                   string `yaml:"server"`
			CertificateAuthority     string `yaml:"certificate-authority"`
			CertificateAuthorityData string `yaml:"certificate-authority-data"`
			InsecureSkipTLSVerify    bool   `yaml:"insecure-skip-tls-verify"`
			TLSServerName            string `yaml:"tls-server-name"`
		} `yaml:"cluster"`
	} `yaml:"clusters"`
	Users []struct {
		Name string `yaml:"name"`
		User struct {
			ClientCertificate     string `yaml:"client-certificate"`
			ClientCertificateData string `yaml:"client-certificate-data"`
			ClientKey             string `yaml:"client-key"`
			ClientKeyData         string `yaml:"client-key-data"`
			Token                 string `yaml:"token"`
			TokenFile             string `yaml:"tokenFile"`
			Username              string `yaml:"username"`
			Password              string `yaml:"password"`
		} `yaml:"user"`
	} `yaml:"users"`
	Contexts []struct {
		Name    string `yaml:"name"`
		Context struct {
			Cluster string `yaml:"cluster"`
			User    string `yaml:"user"`
		} `yaml:"context"`
	} `yaml:"contexts"`
}

// NewKubeClient builds a client from a kubeconfig's content (or, when the text is a path to a
// file, that file's content: the Kubernetes provider accepts both).
func NewKubeClient(config string) (*KubeClient, error) {
	if !strings.Contains(config, "\n") {
		if b, err := os.ReadFile(strings.TrimSpace(config)); err == nil {
			config = string(b)
		}
	}
	var kc kubeconfig
	if err := yaml.Unmarshal([]byte(config), &kc); err != nil {
		return nil, fmt.Errorf("waves: the kubeconfig does not parse: %w", err)
	}
	ctxName := kc.CurrentContext
	if ctxName == "" && len(kc.Contexts) == 1 {
		ctxName = kc.Contexts[0].Name
	}
	var clusterName, userName string
	found := false
	for _, c := range kc.Contexts {
		if c.Name == ctxName {
			clusterName, userName, found = c.Context.Cluster, c.Context.User, true
		}
	}
	if !found {
		return nil, fmt.Errorf("waves: the kubeconfig has no context %q", ctxName)
	}
	k := &KubeClient{}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	found = false
	for _, c := range kc.Clusters {
		if c.Name != clusterName {
			continue
		}
		found = true
		k.server = strings.TrimRight(c.Cluster.Server, "/")
		tlsCfg.ServerName = c.Cluster.TLSServerName
		tlsCfg.InsecureSkipVerify = c.Cluster.InsecureSkipTLSVerify //nolint:gosec // as the kubeconfig says
		ca, err := dataOrFile(c.Cluster.CertificateAuthorityData, c.Cluster.CertificateAuthority)
		if err != nil {
			return nil, fmt.Errorf("waves: kubeconfig cluster %s: certificate authority: %w", c.Name, err)
		}
		if len(ca) > 0 {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(ca) {
				return nil, fmt.Errorf("waves: kubeconfig cluster %s: the certificate authority holds no PEM certificate", c.Name)
			}
			tlsCfg.RootCAs = pool
		}
	}
	if !found || k.server == "" {
		return nil, fmt.Errorf("waves: the kubeconfig has no cluster %q with a server", clusterName)
	}
	if _, err := url.Parse(k.server); err != nil {
		return nil, fmt.Errorf("waves: kubeconfig server %q: %w", k.server, err)
	}
	for _, u := range kc.Users {
		if u.Name != userName {
			continue
		}
		cert, err := dataOrFile(u.User.ClientCertificateData, u.User.ClientCertificate)
		if err != nil {
			return nil, fmt.Errorf("waves: kubeconfig user %s: client certificate: %w", u.Name, err)
		}
		key, err := dataOrFile(u.User.ClientKeyData, u.User.ClientKey)
		if err != nil {
			return nil, fmt.Errorf("waves: kubeconfig user %s: client key: %w", u.Name, err)
		}
		if len(cert) > 0 {
			pair, err := tls.X509KeyPair(cert, key)
			if err != nil {
				return nil, fmt.Errorf("waves: kubeconfig user %s: client certificate and key: %w", u.Name, err)
			}
			tlsCfg.Certificates = []tls.Certificate{pair}
		}
		k.token = u.User.Token
		if k.token == "" && u.User.TokenFile != "" {
			b, err := os.ReadFile(u.User.TokenFile)
			if err != nil {
				return nil, fmt.Errorf("waves: kubeconfig user %s: token file: %w", u.Name, err)
			}
			k.token = strings.TrimSpace(string(b))
		}
		k.user, k.pass = u.User.Username, u.User.Password
	}
	k.hc = &http.Client{
		Timeout:   15 * time.Second,
		Transport: &http.Transport{TLSClientConfig: tlsCfg, Proxy: nil, MaxIdleConnsPerHost: 4},
	}
	return k, nil
}

func dataOrFile(data, file string) ([]byte, error) {
	if data != "" {
		return base64.StdEncoding.DecodeString(data)
	}
	if file != "" {
		return os.ReadFile(file)
	}
	return nil, nil
}

// Application reads argoproj.io/v1alpha1 Application ns/name; found is false on 404.
func (k *KubeClient) Application(ctx context.Context, ns, name string) (obj map[string]any, found bool, err error) {
	u := fmt.Sprintf("%s/apis/argoproj.io/v1alpha1/namespaces/%s/applications/%s", k.server, url.PathEscape(ns), url.PathEscape(name))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, false, err
	}
	req.Header.Set("Accept", "application/json")
	switch {
	case k.token != "":
		req.Header.Set("Authorization", "Bearer "+k.token)
	case k.user != "":
		req.SetBasicAuth(k.user, k.pass)
	}
	resp, err := k.hc.Do(req)
	if err != nil {
		return nil, false, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, false, err
	}
	if resp.StatusCode == http.StatusNotFound {
		return nil, false, nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, false, fmt.Errorf("GET %s: HTTP %d: %s", u, resp.StatusCode, clip(string(body)))
	}
	if err := json.Unmarshal(body, &obj); err != nil {
		return nil, false, fmt.Errorf("GET %s: %w", u, err)
	}
	return obj, true, nil
}
