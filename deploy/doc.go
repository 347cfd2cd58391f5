// Package deploy holds no code. Its tests check the deployment files beside
// it and at the top of the repository, with no container engine and no
// network: docker-compose.yml loaded by the compose-spec library, the
// Prometheus alert rules and the Grafana dashboard parsed by Prometheus's
// own packages, every metric name they use scraped from a running
// `hookctl dev`, and docs/configuration.md compared with the binaries'
// flags; the Kubernetes JSON schemas in kubernetes/schemas are generated
// from k8s.io/api. `make lint` runs them, then kubernetes/check.sh
// (kustomize build and kubeconform against those schemas).
package deploy
