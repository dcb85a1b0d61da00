#!/usr/bin/env bash
# Builds the test-cluster harness (kube-apiserver + embedded etcd) once into .bin/.
# Skips the build when the binary is newer than go.mod, go.sum and every *.go file,
# so CI builds it once per run and tests never rebuild. Prints the binary's path.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="$here/.bin/portico-testcluster"

up_to_date() {
  [[ -x "$bin" ]] || return 1
  local src
  for src in "$here"/go.mod "$here"/go.sum "$here"/*.go; do
    [[ "$src" -nt "$bin" ]] && return 1
  done
  return 0
}

if [[ "${1:-}" != "--force" ]] && up_to_date; then
  echo "$bin"
  exit 0
fi

command -v go >/dev/null || { echo "build.sh: go is not on PATH" >&2; exit 1; }
mkdir -p "$here/.bin"
echo "build.sh: building $bin (a cold build takes several minutes)" >&2
start=$(date +%s)
# Build to a temp name and rename, so a concurrent caller never runs half a binary.
tmp="$bin.tmp.$$"
trap 'rm -f "$tmp"' EXIT
(cd "$here" && CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags='-s -w' -o "$tmp" .)
mv -f "$tmp" "$bin"
echo "build.sh: built in $(( $(date +%s) - start ))s" >&2
echo "$bin"
