#!/usr/bin/env bash
# The version matrix: for each tested Kubernetes minor (one served patch each), build kube-real
# at that release (control plane and kubectl), run every end-to-end test but the kube-sim
# halves against it (each `::real` test, the kubectl differential, the fidelity tests and the
# other kube-real tests; kubectl is the cluster's own), and print one table.
#
#   scripts/version-matrix.sh            every minor: 1.34 1.35 1.36 1.37
#   scripts/version-matrix.sh 35 37      only those
#
# Logs go to target/version-matrix/; the exit status is non-zero if any build or test failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

# One patch per minor: the newest k8s.io/kubernetes the Go module proxy serves of each
# (`go list -m -versions k8s.io/kubernetes`). 1.36 is the default (kube-real's committed modules).
declare -A RELEASE=([34]=v1.34.4 [35]=v1.35.4 [36]=v1.36.3 [37]=v1.37.2)
minors=("$@")
[ ${#minors[@]} -eq 0 ] && minors=(34 35 36 37)

if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then
  export PATH="/usr/local/go/bin:$PATH"
fi
export REQUIRE_KUBE_REAL=1 REQUIRE_KUBECTL=1
logs=target/version-matrix
mkdir -p "$logs"

echo "version-matrix: building the end-to-end tests once"
cargo test -q --test e2e --no-run || exit 1

rows=()
failed=0
for minor in "${minors[@]}"; do
  release=${RELEASE[$minor]:-}
  if [ -z "$release" ]; then
    echo "version-matrix: 1.$minor is not in the matrix (${!RELEASE[*]})" >&2
    exit 2
  fi
  export KUBE_REAL_VERSION=$release
  echo "version-matrix: $release: building"
  started=$(date +%s)
  if ! cargo run -q -p kube-real -- build >"$logs/build-$release.log" 2>&1; then
    tail -20 "$logs/build-$release.log" >&2
    rows+=("| 1.$minor | $release | failed: $(grep -m1 'kube-real:' "$logs/build-$release.log" | cut -c1-200) | - | - | - | - |")
    failed=1
    continue
  fi
  built=$(( $(date +%s) - started ))
  echo "version-matrix: $release: built in ${built} s; testing"
  started=$(date +%s)
  log="$logs/e2e-$release.log"
  cargo test --test e2e -- --skip ::sim >"$log" 2>&1
  status=$?
  tested=$(( $(date +%s) - started ))
  passed=$(grep -c ' \.\.\. ok$' "$log")
  broken=$(grep -c ' \.\.\. FAILED$' "$log")
  real=$(grep -c '::real \.\.\. ok$' "$log")
  if [ "$status" -ne 0 ]; then
    failed=1
    grep ' \.\.\. FAILED$' "$log" >&2
  fi
  rows+=("| 1.$minor | $release | ${built} s | $passed | $broken | $real | ${tested} s |")
done

echo
echo "| minor | release | build | e2e passed | e2e failed | of them \`::real\` | e2e time |"
echo "|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
exit $failed
