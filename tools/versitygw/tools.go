//go:build tools

// Package tools pins the versitygw S3 server that the test suites run
// against. It lives in its own module so that the main module does not
// inherit versitygw's dependencies.
package tools

import _ "github.com/versity/versitygw/cmd/versitygw"
