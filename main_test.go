package main

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	tests := []struct {
		args       []string
		code       int
		stdout     string // substring
		stderrLine string // the whole of stderr when code is 2
	}{
		{args: []string{"help"}, code: 0, stdout: "wharf serve [--config FILE]"},
		{args: []string{"-h"}, code: 0, stdout: "wharf version"},
		{args: []string{"--help"}, code: 0, stdout: "wharf help"},
		{args: []string{"help", "serve"}, code: 0, stdout: "WHARF_LOG_FORMAT"},
		{args: []string{"serve", "-h"}, code: 0, stdout: "--config FILE"},
		{args: []string{"version"}, code: 0, stdout: "wharf dev"},
		{args: []string{"version", "-h"}, code: 0, stdout: "Usage: wharf version"},
		{args: nil, code: 2, stderrLine: "wharf: no command given (run 'wharf help' for the list)\n"},
		{args: []string{"serve", "--bogus"}, code: 2,
			stderrLine: "wharf serve: flag provided but not defined: -bogus (run 'wharf serve -h' for usage)\n"},
		{args: []string{"serve", "--config"}, code: 2,
			stderrLine: "wharf serve: flag needs an argument: -config (run 'wharf serve -h' for usage)\n"},
		{args: []string{"serve", "x"}, code: 2,
			stderrLine: "wharf serve: unexpected argument \"x\" (run 'wharf serve -h' for usage)\n"},
		{args: []string{"version", "--short"}, code: 2,
			stderrLine: "wharf version: flag provided but not defined: -short (run 'wharf version -h' for usage)\n"},
		{args: []string{"frobnicate"}, code: 2,
			stderrLine: "wharf: unknown command \"frobnicate\" (run 'wharf help' for the list)\n"},
		{args: []string{"help"}, code: 0, stdout: "wharf user SUBCOMMAND"},
		{args: []string{"help", "user"}, code: 0, stdout: "Usage: wharf user SUBCOMMAND"},
		{args: []string{"help", "admin"}, code: 0, stdout: "token create ADMIN"},
		{args: []string{"help", "migrate"}, code: 0, stdout: "Usage: wharf migrate"},
		{args: []string{"help", "version"}, code: 0, stdout: "Usage: wharf version"},
		{args: []string{"user", "add", "-h"}, code: 0, stdout: "--mount /PATH=BACKEND[:PREFIX][,ro]"},
		{args: []string{"help", "bogus"}, code: 2,
			stderrLine: "wharf help: unknown command \"bogus\" (run 'wharf help' for the list)\n"},
		{args: []string{"user"}, code: 2,
			stderrLine: "wharf user: no subcommand given; one of add, add-key, disable, enable, list, remove, remove-key, set-password, show (run 'wharf user -h' for usage)\n"},
		{args: []string{"admin", "token", "mint"}, code: 2,
			stderrLine: "wharf admin token: unknown subcommand \"mint\"; one of create, list, revoke (run 'wharf admin token -h' for usage)\n"},
		{args: []string{"migrate", "--force"}, code: 2,
			stderrLine: "wharf migrate: flag provided but not defined: -force (run 'wharf migrate -h' for usage)\n"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		code := run(t.Context(), tt.args, nil, &stdout, &stderr)
		if code != tt.code {
			t.Errorf("wharf %q: exit %d, want %d (stderr %q)", tt.args, code, tt.code, stderr.String())
		}
		if !strings.Contains(stdout.String(), tt.stdout) {
			t.Errorf("wharf %q: stdout %q lacks %q", tt.args, stdout.String(), tt.stdout)
		}
		if tt.code == 2 && stderr.String() != tt.stderrLine {
			t.Errorf("wharf %q: stderr %q, want %q", tt.args, stderr.String(), tt.stderrLine)
		}
	}
}

func TestVersionString(t *testing.T) {
	v := versionString()
	if !strings.HasPrefix(v, "wharf ") || !strings.Contains(v, runtime.Version()) {
		t.Errorf("versionString() = %q, want the wharf version and %s", v, runtime.Version())
	}
}
