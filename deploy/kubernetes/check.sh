#!/usr/bin/env bash
# check.sh builds every kustomization here (the base and each overlay) with
# kustomize and validates the output with kubeconform, strictly, against the
# schemas in schemas/ only: no network. Both tools are built from the Go
# module proxy at pinned versions (cached after the first run). `make lint`
# runs it.
set -euo pipefail
cd "$(dirname "$0")"
KUSTOMIZE=sigs.k8s.io/kustomize/kustomize/v5@v5.8.2 # v5.8.3 needs Go 1.27
KUBECONFORM=github.com/yannh/kubeconform/cmd/kubeconform@v0.8.0
tools=$(go env GOCACHE)/hookline-tools
mkdir -p "$tools"
[ -x "$tools/kustomize" ] || GOWORK=off GOBIN="$tools" go install "$KUSTOMIZE"
[ -x "$tools/kubeconform" ] || GOWORK=off GOBIN="$tools" go install "$KUBECONFORM"
for k in base overlays/*; do
	echo "kubernetes: $k"
	"$tools/kustomize" build "$k" |
		"$tools/kubeconform" -strict -summary -schema-location "schemas/{{ .ResourceKind }}{{ .KindSuffix }}.json" -
done
# The overlay caps each scaler at the partitions topics-init creates.
parts=$(grep -o -- '--partitions", "[0-9]*' base/topics-job.yaml | grep -o '[0-9]*$')
for max in $(grep -o 'maxReplicaCount: [0-9]*' overlays/keda/scaledobjects.yaml | grep -o '[0-9]*$'); do
	[ "$max" -le "$parts" ] || { echo "a ScaledObject's maxReplicaCount ($max) exceeds the partitions ($parts)"; exit 1; }
done
