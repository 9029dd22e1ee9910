package server

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestREADMEConfigReference keeps README.md's configuration reference true:
// its table lists exactly the keys Config has, with the environment names
// wharf derives, and its example file loads.
func TestREADMEConfigReference(t *testing.T) {
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	_, section, _ := strings.Cut(readme, "\n## Configuration\n")
	section, _, _ = strings.Cut(section, "\n## ")

	row := regexp.MustCompile("(?m)^\\| `([a-z0-9_.<>]+)` \\|([^|]*)\\|([^|]*)\\|")
	documented := map[string]string{} // key → environment column
	defaults := map[string]string{}   // key → default column
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		defaults[m[1]] = strings.Trim(strings.TrimSpace(m[2]), "`")
		documented[m[1]] = strings.Trim(strings.TrimSpace(m[3]), "`")
	}
	// The defaults that come from package auth, which may change them.
	def := DefaultConfig()
	for k, v := range map[string]any{
		"auth.argon2.memory": def.Auth.Argon2.Memory, "auth.argon2.time": def.Auth.Argon2.Time,
		"auth.argon2.threads": def.Auth.Argon2.Threads, "defender.enabled": def.Defender.Enabled,
		"defender.max_failures": def.Defender.MaxFailures, "defender.window": def.Defender.Window,
		"defender.ban_time": def.Defender.BanTime, "defender.delay": def.Defender.Delay,
		"defender.max_delay": def.Defender.MaxDelay, "store.driver": def.Store.Driver,
	} {
		want := fmt.Sprint(v)
		if d, ok := v.(Duration); ok {
			want = d.String() // 10m0s → 10m, 1h0m0s → 1h
			if strings.HasSuffix(want, "m0s") {
				want = strings.TrimSuffix(want, "0s")
			}
			if strings.HasSuffix(want, "h0m") {
				want = strings.TrimSuffix(want, "0m")
			}
		}
		if defaults[k] != want {
			t.Errorf("README: %s defaults to %q, want %q", k, defaults[k], want)
		}
	}
	want := map[string]string{}
	for _, k := range keys(reflect.TypeFor[Config](), nil, nil) {
		if k.typ.Kind() == reflect.Map {
			want[k.name()] = ""
			for _, f := range keys(k.typ.Elem(), nil, nil) {
				want[k.name()+".<name>."+f.name()] = k.env() + "_<NAME>_" + strings.ToUpper(strings.Join(f.path, "_"))
			}
			continue
		}
		want[k.name()] = k.env()
	}
	if !reflect.DeepEqual(documented, want) {
		t.Errorf("README configuration table:\n got %v\nwant %v", documented, want)
	}

	// The first yaml block is the example configuration.
	_, after, ok := strings.Cut(section, "```yaml\n")
	example, _, ok2 := strings.Cut(after, "```")
	if !ok || !ok2 {
		t.Fatal("README has no yaml example")
	}
	cfg, err := load(t, example)
	if err != nil {
		t.Fatalf("README example: %v", err)
	}
	if names := cfg.backendNames(); !slices.Equal(names, []string{"local", "minio", "s3main"}) {
		t.Errorf("README example backends = %v", names)
	}
	for _, cmd := range []string{"go run . serve", "go test ./..."} {
		if !strings.Contains(readme, "```sh\n"+cmd+"\n```") {
			t.Errorf("README lacks the command %q", cmd)
		}
	}
}
