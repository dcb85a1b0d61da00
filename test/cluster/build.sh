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
# One build at a time (parallel test workers may all find the binary missing); whoever
# waited finds it built.
exec 9>"$here/.bin/.build.lock"
flock 9
if [[ "${1:-}" != "--force" ]] && up_to_date; then
  echo "$bin"
  exit 0
fi
echo "build.sh: building $bin (a cold build takes several minutes)" >&2
start=$(date +%s)
# Build to a temp name and rename, so nobody ever runs half a binary.
tmp="$bin.tmp.$$"
trap 'rm -f "$tmp"' EXIT
# Stamp the version the stock release build would (/version, `kubectl version`); without
# it the server reports the unparsable "v0.0.0-master+$Format:%H$".
k8s_version="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ { print $2; exit }' "$here/go.mod")"
IFS=. read -r major minor _ <<<"${k8s_version#v}"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done
(cd "$here" && CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags="$ldflags" -o "$tmp" .)
mv -f "$tmp" "$bin"
echo "build.sh: built in $(( $(date +%s) - start ))s" >&2
echo "$bin"
