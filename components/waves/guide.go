package waves

// Guide is the guide's section 6.1, in its order: each wave's name, then its apps in order. It is
// the one copy: stacks takes it as the default of pm4ml:argocd's waves (stacks.GuideWaves), and the
// tests of this package, of verify and of stacks read it.
var Guide = [][]string{
	{"base-utilities", "base-utils"},
	{"storage", "storage-app"},
	{"certificate-management", "certmanager-helm", "certmanager-app", "certmanager-clusterissuers"},
	{"service-mesh", "istio-app", "istio-main-app", "istio-gateways-app"},
	{"dns-management", "external-dns-app"},
	{"vault-storage-backend", "consul-app"},
	{"vault-and-secrets", "vault-app", "vault", "vault-config-operator", "vault-pki-app"},
	{"stateful-resources", "stateful-resources-operators-app", "common-stateful-resources-app"},
	{"monitoring", "monitoring-app", "monitoring-install", "monitoring-post-config"},
	{"identity-and-access", "keycloak-app", "keycloak-install", "keycloak-post-config", "ory-app"},
	{"pm4ml-core", "pm4ml"},
}
