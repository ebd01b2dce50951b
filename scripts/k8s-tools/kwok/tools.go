//go:build tools

// Package tools pins kwok (fake nodes and pod lifecycle) for the tests' control plane.
package tools

import _ "sigs.k8s.io/kwok/cmd/kwok"
