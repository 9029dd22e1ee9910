package server

import (
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

	row := regexp.MustCompile("(?m)^\\| `([a-z_.<>]+)` \\|[^|]*\\|([^|]*)\\|")
	documented := map[string]string{} // key → environment column
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		documented[m[1]] = strings.Trim(strings.TrimSpace(m[2]), "`")
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
