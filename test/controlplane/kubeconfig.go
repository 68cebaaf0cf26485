package controlplane

import (
	"fmt"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Client rate limits for the admin configuration: tests create many objects
// quickly, and client-go's defaults (5 QPS) would make them slow.
const (
	clientQPS   = 200
	clientBurst = 400
)

// writeKubeconfig writes an admin kubeconfig for the apiserver at host, with
// the certificates embedded, and returns the matching REST configuration.
func writeKubeconfig(path, contextName, host string, p *pki) (*rest.Config, error) {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[contextName] = &clientcmdapi.Cluster{Server: host, CertificateAuthorityData: p.caPEM}
	cfg.AuthInfos[adminUser] = &clientcmdapi.AuthInfo{
		ClientCertificateData: p.adminCert,
		ClientKeyData:         p.adminKey,
	}
	cfg.Contexts[contextName] = &clientcmdapi.Context{Cluster: contextName, AuthInfo: adminUser}
	cfg.CurrentContext = contextName
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return nil, fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return restConfigFromKubeconfig(path)
}

// restConfigFromKubeconfig loads the current context of the kubeconfig at path.
func restConfigFromKubeconfig(path string) (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w", path, err)
	}
	cfg.QPS, cfg.Burst = clientQPS, clientBurst
	return cfg, nil
}
