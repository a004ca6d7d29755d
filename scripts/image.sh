#!/usr/bin/env bash
# Builds the container image from a static Linux binary, with podman, buildah or docker
# (whichever is installed, in that order): FROM scratch, so no registry is needed.
#
#   scripts/image.sh BINARY TAG [PLATFORM]
#
# PLATFORM (linux/amd64, linux/arm64) is the binary's; the builder's own by default. The image
# runs nothing while it is built, so either builds anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || [ $# -eq 3 ] || { echo "usage: scripts/image.sh BINARY TAG [PLATFORM]" >&2; exit 2; }
binary=$1 tag=$2
platform=()
[ $# -eq 3 ] && platform=(--platform "$3")
if ! file -b "$binary" | grep -Eq 'statically linked|static-pie linked'; then
  echo "image: $binary is not a static binary (build a *-unknown-linux-musl target)" >&2
  exit 1
fi
builder=
for candidate in podman buildah docker; do
  command -v "$candidate" >/dev/null && { builder=$candidate; break; }
done
[ -n "$builder" ] || { echo "image: no podman, buildah or docker" >&2; exit 1; }
version=$(cargo metadata --no-deps --format-version 1 | jq -r '.packages[] | select(.name == "k8s-rollout-mcp") | .version')
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
install -m 0755 "$binary" "$context/k8s-rollout-mcp"
install -m 0644 /etc/ssl/certs/ca-certificates.crt "$context/"
mkdir -m 0700 "$context/state"
case "$builder" in
  buildah) buildah bud --quiet "${platform[@]}" --build-arg "VERSION=$version" -f Dockerfile -t "$tag" "$context" ;;
  *) "$builder" build --quiet "${platform[@]}" --build-arg "VERSION=$version" -f Dockerfile -t "$tag" "$context" ;;
esac
echo "image: built $tag with $builder"
