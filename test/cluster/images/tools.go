//go:build tools

// Package images pins the modules whose main packages build.sh builds as test-cluster
// images (go build sigs.k8s.io/gateway-api/conformance/echo-basic).
package images

import _ "sigs.k8s.io/gateway-api/conformance/echo-basic"
