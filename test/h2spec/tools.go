//go:build tools

// Package tools pins h2spec (the HTTP/2 conformance tester the test suite runs) and its
// dependencies in go.mod/go.sum, so build.sh builds the same binary everywhere.
package tools

import _ "github.com/summerwind/h2spec/cmd/h2spec"
