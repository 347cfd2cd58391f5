// Package deploy holds no code. Its tests check the deployment files beside
// it and at the top of the repository, with no container engine and no
// network: docker-compose.yml loaded by the compose-spec library, the
// Prometheus alert rules and the Grafana dashboard parsed by Prometheus's
// own packages, every metric name they use scraped from a running
// `hookctl dev`, and docs/configuration.md compared with the binaries'
// flags. `make lint` runs them; the Kubernetes manifests are checked by
// `make lint` with kustomize and kubeconform.
package deploy
