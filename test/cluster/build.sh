#!/usr/bin/env bash
# Builds the test-cluster harness (kube-apiserver + embedded etcd + controllers + the
# scheduler and kubelet stand-ins) once into .bin/, and from the separate Go module in
# images/: the image binaries the kubelet stand-in runs into .bin/images/, the upstream
# Gateway API conformance suite's test binary into .bin/gateway-conformance.test, and that
# module version's standard-channel CRDs (config/crd/standard) into .bin/gateway-api-crds/,
# which the harness installs at start.
# Skips the build when the binaries are newer than every go.mod, go.sum and *.go file,
# so CI builds them once per run and tests never rebuild. Prints the harness's path.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="$here/.bin/portico-testcluster"
images="$here/.bin/images"
# Image binaries: sigs.k8s.io/gateway-api/conformance/echo-basic and ours.
image_pkgs=(sigs.k8s.io/gateway-api/conformance/echo-basic ./portico-backend ./coredns)
image_bins=(echo-basic portico-backend coredns)
conformance="$here/.bin/gateway-conformance.test"
crds="$here/.bin/gateway-api-crds"

# newer_than OUT SRC...: OUT exists and no SRC is newer.
newer_than() {
  local out="$1" src
  shift
  [[ -x "$out" ]] || return 1
  for src in "$@"; do
    [[ "$src" -nt "$out" ]] && return 1
  done
  return 0
}
harness_up_to_date() { newer_than "$bin" "$here"/go.mod "$here"/go.sum "$here"/*.go; }
images_up_to_date() {
  local name
  for name in "${image_bins[@]}"; do
    newer_than "$images/$name" "$here"/images/go.mod "$here"/images/go.sum "$here"/images/*/*.go || return 1
  done
  newer_than "$conformance" "$here"/images/go.mod "$here"/images/go.sum || return 1
  [[ -f "$crds/.stamp" && ! "$here/images/go.mod" -nt "$crds/.stamp" ]]
}
up_to_date() { harness_up_to_date && images_up_to_date; }

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
# Build to temp names and rename, so nobody ever runs half a binary.
tmp="$bin.tmp.$$"
tmp_images="$images.tmp.$$"
trap 'rm -rf "$tmp" "$tmp_images"' EXIT
if [[ "${1:-}" == "--force" ]] || ! images_up_to_date; then
  mkdir -p "$tmp_images" "$images"
  (cd "$here/images" && CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags="-s -w" -o "$tmp_images/" "${image_pkgs[@]}")
  (cd "$here/images" && CGO_ENABLED=0 go test -c -mod=readonly -trimpath -ldflags="-s -w" -o "$tmp_images/gateway-conformance.test" sigs.k8s.io/gateway-api/conformance)
  # The CRDs of the same gateway-api module version the suite was built from (go.sum-verified).
  gwapi="$(cd "$here/images" && go mod download -json sigs.k8s.io/gateway-api@"$(cd "$here/images" && go list -m -f '{{with .Replace}}{{.Version}}{{else}}{{.Version}}{{end}}' sigs.k8s.io/gateway-api)" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [[ -d "$gwapi/config/crd/standard" ]] || { echo "build.sh: no config/crd/standard in the gateway-api module ($gwapi)" >&2; exit 1; }
  mkdir -p "$tmp_images/crds"
  cp "$gwapi"/config/crd/standard/*.yaml "$tmp_images/crds/"
  chmod 644 "$tmp_images"/crds/*.yaml
  touch "$tmp_images/crds/.stamp"
  for name in "${image_bins[@]}"; do
    mv -f "$tmp_images/$name" "$images/$name"
  done
  mv -f "$tmp_images/gateway-conformance.test" "$conformance"
  rm -rf "$crds" && mv "$tmp_images/crds" "$crds"
fi
if [[ "${1:-}" != "--force" ]] && harness_up_to_date; then
  echo "build.sh: built in $(( $(date +%s) - start ))s" >&2
  echo "$bin"
  exit 0
fi
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
