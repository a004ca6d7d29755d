#!/usr/bin/env bash
# Builds dist/: one archive per target (.tar.gz, .zip for Windows) holding the binary, README.md
# and LICENSE; the Claude Desktop extension (.mcpb); server.json for the MCP Registry with the
# extension's SHA-256; SHA256SUMS. Entries are sorted and dated SOURCE_DATE_EPOCH (default: the
# last commit's time), so the archives are reproducible from the same binaries.
#
#   scripts/dist.sh [--profile NAME] [--binaries DIR] [--require-all] [TARGET...]
#
# Each TARGET's binary comes from DIR/TARGET/ when --binaries names a directory that has it
# (release.yml downloads the native runners' builds there), else it is built here with
# `cargo build --profile NAME --target TARGET` (default profile: release; default targets: those
# this Linux x86_64 machine cross-builds: x86_64 and aarch64 musl, x86_64 windows-gnu).
#
# The extension carries one binary per platform: darwin from universal-apple-darwin (else
# aarch64-apple-darwin), win32 from x86_64-pc-windows-msvc (else -gnu), linux from
# x86_64-unknown-linux-musl. Platforms without one are left out of its manifest, with a warning;
# --require-all (releases) makes that an error.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
binaries=
require_all=false
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile=$2; shift 2 ;;
    --binaries) binaries=$2; shift 2 ;;
    --require-all) require_all=true; shift ;;
    -*) echo "dist: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(x86_64-unknown-linux-musl aarch64-unknown-linux-musl x86_64-pc-windows-gnu)
for tool in jq zip sha256sum npx; do
  command -v "$tool" >/dev/null || { echo "dist: $tool is not on PATH" >&2; exit 1; }
done

name=k8s-rollout-mcp
version=$(cargo metadata --no-deps --format-version 1 | jq -r --arg name "$name" '.packages[] | select(.name == $name) | .version')
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
export TZ=UTC
out=dist
rm -rf "$out"
mkdir -p "$out"

exe() { case "$1" in *windows*) echo "$name.exe" ;; *) echo "$name" ;; esac; }

# The binary for a target: prebuilt, else built here.
binary_for() {
  local target=$1 file
  file=$(exe "$target")
  if [ -n "$binaries" ] && [ -f "$binaries/$target/$file" ]; then
    echo "$binaries/$target/$file"
    return
  fi
  # Cross-building for aarch64 from x86_64 Linux: Debian's gcc-aarch64-linux-gnu compiles ring's
  # C and links (the musl C library comes with Rust's target).
  if [ "$target" = aarch64-unknown-linux-musl ] && [ "$(uname -m)" != aarch64 ]; then
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=aarch64-linux-gnu-gcc
    export CC_aarch64_unknown_linux_musl=aarch64-linux-gnu-gcc
  fi
  echo "dist: building $target ($profile)" >&2
  cargo build --locked --quiet --profile "$profile" --target "$target" --bin "$name" >&2
  echo "target/$target/$profile/$file"
}

# Dates every file under $1 SOURCE_DATE_EPOCH.
redate() { find "$1" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +; }

declare -A built
for target in "${targets[@]}"; do
  binary=$(binary_for "$target")
  built[$target]=$binary
  stem=$name-$version-$target
  stage=$out/stage/$stem
  mkdir -p "$stage"
  install -m 0755 "$binary" "$stage/$(exe "$target")"
  install -m 0644 README.md LICENSE "$stage/"
  redate "$stage"
  case "$target" in
    *windows*)
      (cd "$out/stage" && find "$stem" | LC_ALL=C sort | zip -X -q "../$stem.zip" -@) ;;
    *)
      tar -C "$out/stage" --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 \
        --numeric-owner -cf - "$stem" | gzip -n -9 > "$out/$stem.tar.gz" ;;
  esac
  echo "dist: $out/$stem ($(wc -c < "$binary") byte binary)"
done

# The extension: one binary per platform it names.
first_of() { for target in "$@"; do [ -n "${built[$target]:-}" ] && { echo "${built[$target]}"; return; }; done; true; }
declare -A platform_binary=(
  [darwin]=$(first_of universal-apple-darwin aarch64-apple-darwin)
  [win32]=$(first_of x86_64-pc-windows-msvc x86_64-pc-windows-gnu)
  [linux]=$(first_of x86_64-unknown-linux-musl)
)
bundle=$out/stage/mcpb
mkdir -p "$bundle"
present=()
for platform in darwin win32 linux; do
  binary=${platform_binary[$platform]}
  if [ -z "$binary" ]; then
    if $require_all; then echo "dist: no binary for the extension's $platform" >&2; exit 1; fi
    echo "dist: WARNING: no binary for $platform: the extension leaves $platform out" >&2
    continue
  fi
  present+=("$platform")
  file=$name; [ "$platform" = win32 ] && file=$name.exe
  install -D -m 0755 "$binary" "$bundle/server/$platform/$file"
done
[ ${#present[@]} -gt 0 ] || { echo "dist: no binary for any platform of the extension" >&2; exit 1; }
install -m 0644 README.md LICENSE "$bundle/"
# The manifest as committed, with this version and only the platforms present; the base
# command and entry point become the first present platform's.
jq --arg version "$version" --argjson present "$(printf '%s\n' "${present[@]}" | jq -R . | jq -s .)" '
  .version = $version
  | .compatibility.platforms = $present
  | .server.mcp_config.platform_overrides |= with_entries(select(.key as $p | $present | index($p)))
  | .server.mcp_config.command = .server.mcp_config.platform_overrides[$present[0]].command
  | .server.entry_point = (.server.mcp_config.command | sub("^\\$\\{__dirname\\}/"; ""))
' packaging/manifest.json > "$bundle/manifest.json"
redate "$bundle"
mcpb=(npx --yes @anthropic-ai/mcpb@2.1.2)
"${mcpb[@]}" validate "$bundle/manifest.json"
"${mcpb[@]}" pack "$bundle" "$out/$name-$version.mcpb" >/dev/null
echo "dist: $out/$name-$version.mcpb (${present[*]})"

# server.json: this version, the release's extension URL and its SHA-256.
sha=$(sha256sum "$out/$name-$version.mcpb" | cut -d' ' -f1)
jq --arg version "$version" --arg sha "$sha" '
  .version = $version
  | .packages |= map(
      .version = $version
      | if .registryType == "mcpb" then
          .identifier |= sub("/v[^/]+/[^/]+$"; "/v\($version)/k8s-rollout-mcp-\($version).mcpb")
          | .fileSha256 = $sha
        else . end)
' packaging/server.json > "$out/server.json"

rm -rf "$out/stage"
(cd "$out" && shopt -s nullglob && sha256sum -- *.tar.gz *.zip *.mcpb server.json | LC_ALL=C sort -k2 > SHA256SUMS)
echo "dist: $out/SHA256SUMS"
cat "$out/SHA256SUMS"
