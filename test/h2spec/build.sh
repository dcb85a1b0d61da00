#!/usr/bin/env bash
# Builds h2spec (github.com/summerwind/h2spec, the HTTP/2 conformance tester the test suite runs)
# into .bin/ from the versions pinned in this directory's go.mod/go.sum, and prints its path.
# Skips the build when the binary is newer than go.mod and go.sum, so CI builds it once per run.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="$here/.bin/h2spec"

up_to_date() { [[ -x "$bin" && ! "$here/go.mod" -nt "$bin" && ! "$here/go.sum" -nt "$bin" ]]; }

if up_to_date; then
  echo "$bin"
  exit 0
fi
command -v go >/dev/null || { echo "h2spec/build.sh: go is not on PATH" >&2; exit 1; }
mkdir -p "$here/.bin"
# One build at a time (parallel test workers may all find the binary missing); whoever waited finds it built.
exec 9>"$here/.bin/.build.lock"
flock 9
if up_to_date; then
  echo "$bin"
  exit 0
fi
echo "h2spec/build.sh: building $bin" >&2
tmp="$bin.tmp.$$"
trap 'rm -f "$tmp"' EXIT
(cd "$here" && GOFLAGS=-buildvcs=false CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags="-s -w" -o "$tmp" github.com/summerwind/h2spec/cmd/h2spec)
mv -f "$tmp" "$bin"
echo "$bin"
