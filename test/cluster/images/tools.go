//go:build tools

// Package images pins the modules whose packages build.sh builds: the images the
// kubelet stand-in runs (go build sigs.k8s.io/gateway-api/conformance/echo-basic) and the
// upstream Gateway API conformance suite (go test -c sigs.k8s.io/gateway-api/conformance),
// which test/conformance/gateway.ts runs against Portico.
package images

import (
	_ "sigs.k8s.io/gateway-api/conformance"
	_ "sigs.k8s.io/gateway-api/conformance/echo-basic"
)
