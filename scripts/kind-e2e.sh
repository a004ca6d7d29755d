#!/usr/bin/env bash
# The real-backend end-to-end tests against a kind cluster instead of kube-real: creates the
# cluster (with the API server's audit log on the host, the tests' request log), gives it kwok
# and three fake Nodes (so pods follow the image convention: crashloop, unpullable, notready),
# keeps test pods off the kind node, runs the `::real` half of the suite, and deletes it all.
#
#   scripts/kind-e2e.sh                 # needs Docker, kind, kubectl, Go and cargo
#   KIND_NODE_IMAGE=kindest/node:v1.35.0 scripts/kind-e2e.sh
#
# The tests create and delete their own namespaces and touch nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "kind-e2e: $*" >&2; exit 1; }
command -v docker >/dev/null || fail "Docker is not installed: kind runs its nodes in Docker containers. (This cannot run on machines without a Docker engine; use kube-real, which cargo test starts by itself.)"
docker info >/dev/null 2>&1 || fail "no Docker engine answers ('docker info' failed): start Docker, or use kube-real"
command -v kind >/dev/null || fail "kind is not on PATH (go install sigs.k8s.io/kind@latest)"
command -v kubectl >/dev/null || fail "kubectl is not on PATH"
command -v go >/dev/null || fail "Go is not on PATH (kwok is built from its module)"

name="k8s-rollout-mcp-e2e-$$"
work=$(mktemp -d)
kubeconfig="$work/kubeconfig"
mkdir -p "$work/audit"
attach_pid=""
cleanup() {
  if [ -n "$attach_pid" ]; then
    kill "$attach_pid" 2>/dev/null || true
    wait "$attach_pid" 2>/dev/null || true
  fi
  kind delete cluster --name "$name" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

cargo build -q -p kube-real
./target/debug/kube-real build
./target/debug/kube-real audit-policy > "$work/audit-policy.yaml"
chmod 0777 "$work/audit"

cat > "$work/kind.yaml" <<KIND
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
- role: control-plane
  kubeadmConfigPatches:
  - |
    kind: ClusterConfiguration
    apiServer:
      extraArgs:
        audit-log-path: /var/log/kubernetes/audit/audit.log
        audit-policy-file: /etc/kubernetes/policies/audit-policy.yaml
      extraVolumes:
      - name: audit-policies
        hostPath: /etc/kubernetes/policies
        mountPath: /etc/kubernetes/policies
        readOnly: true
        pathType: DirectoryOrCreate
      - name: audit-logs
        hostPath: /var/log/kubernetes/audit
        mountPath: /var/log/kubernetes/audit
        readOnly: false
        pathType: DirectoryOrCreate
  extraMounts:
  - hostPath: $work/audit-policy.yaml
    containerPath: /etc/kubernetes/policies/audit-policy.yaml
    readOnly: true
  - hostPath: $work/audit
    containerPath: /var/log/kubernetes/audit
KIND

kind create cluster --name "$name" --kubeconfig "$kubeconfig" --config "$work/kind.yaml" \
  ${KIND_NODE_IMAGE:+--image "$KIND_NODE_IMAGE"} --wait 180s

# Test pods go to the fake Nodes only: kind's own node is tainted (its system DaemonSets
# tolerate everything; the tests' do not).
kubectl --kubeconfig "$kubeconfig" taint nodes --all k8s-rollout-mcp.test/real-kubelet=true:NoSchedule

./target/debug/kube-real attach --kubeconfig "$kubeconfig" --nodes 3 &
attach_pid=$!
for _ in $(seq 1 120); do
  ready=$(kubectl --kubeconfig "$kubeconfig" get nodes -l type=kwok --no-headers 2>/dev/null | grep -c " Ready" || true)
  [ "$ready" -ge 3 ] && break
  kill -0 "$attach_pid" 2>/dev/null || fail "kube-real attach exited"
  sleep 1
done
[ "${ready:-0}" -ge 3 ] || fail "the fake Nodes did not become Ready"

K8S_ROLLOUT_MCP_E2E_KUBECONFIG="$kubeconfig" \
K8S_ROLLOUT_MCP_E2E_AUDIT_LOG="$work/audit/audit.log" \
REQUIRE_KUBE_REAL=1 REQUIRE_KUBECTL=1 \
  cargo test --test e2e ::real -- --test-threads 4
