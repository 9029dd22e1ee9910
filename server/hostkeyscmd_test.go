package server

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// wharf hostkeys prints the keys every node presents: generated once into
// the store, the same on the next call.
func TestHostKeysCommand(t *testing.T) {
	env := []string{"WHARF_DATA_DIR=" + t.TempDir()}
	run := func(args ...string) (string, string, int) {
		var out, errOut bytes.Buffer
		code := HostKeysCommand(t.Context(), args, env, strings.NewReader(""), &out, &errOut)
		return out.String(), errOut.String(), code
	}
	first, stderr, code := run("--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var keys []struct{ Type, Fingerprint, Key, Source string }
	if err := json.Unmarshal([]byte(first), &keys); err != nil || len(keys) != 3 {
		t.Fatalf("%v: %s", err, first)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k.Fingerprint, "SHA256:") || !strings.HasPrefix(k.Key, k.Type+" ") {
			t.Fatalf("key %+v", k)
		}
	}
	if again, _, _ := run("--json"); again != first {
		t.Fatalf("host keys changed between two calls:\n%s\n%s", first, again)
	}
	if text, _, _ := run(); !strings.Contains(text, keys[0].Fingerprint) {
		t.Fatalf("text output lacks the fingerprint:\n%s", text)
	}
	if _, stderr, code := run("extra"); code != 2 || strings.Count(stderr, "\n") != 1 {
		t.Fatalf("bad usage: exit %d, %q", code, stderr)
	}
}
