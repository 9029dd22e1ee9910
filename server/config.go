package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/wharf-gw/wharf/storage"
)

// Config is wharf's configuration: a YAML file whose every key can be
// overridden by a WHARF_… environment variable named after its path
// (log.format → WHARF_LOG_FORMAT, backends.<name>.url →
// WHARF_BACKENDS_<NAME>_URL). README.md holds the reference; keep the two
// in step.
type Config struct {
	// DataDir holds the node's own data; the embedded default backend
	// lives in DataDir/files. Relative paths are resolved against the
	// working directory.
	DataDir  string                   `yaml:"data_dir"`
	Log      LogConfig                `yaml:"log"`
	Storage  StorageConfig            `yaml:"storage"`
	Backends map[string]BackendConfig `yaml:"backends"`

	// file is the file the configuration was read from, "" for none.
	file string
	// defaultBackend is set when no backends were configured in a file,
	// so the embedded "local" backend gets its URL from DataDir.
	defaultBackend bool
}

// LogConfig selects the log format and level.
type LogConfig struct {
	Format string `yaml:"format"` // text | json
	Level  string `yaml:"level"`  // debug | info | warn | error
}

// StorageConfig tunes the virtual filesystem.
type StorageConfig struct {
	// UploadBudget is the memory all uploads together may hold in part
	// buffers.
	UploadBudget Size `yaml:"upload_budget"`
	// Times says what happens to modification times set by clients:
	// "store" keeps them in object metadata, "ignore" drops them.
	Times string `yaml:"times"`
}

// BackendConfig declares one named bucket that mounts refer to.
type BackendConfig struct {
	// URL is a gocloud URL: file:///abs/path, file://./rel/path,
	// s3://bucket?region=…&endpoint=…&use_path_style=true, or mem://.
	URL string `yaml:"url"`
	// PartSize is the upload part size (0 means storage.DefaultPartSize).
	PartSize Size `yaml:"part_size"`
	// Concurrency is the number of parts one upload sends at once (0
	// means storage.DefaultConcurrency).
	Concurrency int `yaml:"concurrency"`
}

// Defaults that the embedded configuration uses.
const (
	DefaultDataDir     = "./wharf-data"
	DefaultBackendName = "local"
	minUploadBudget    = 16 * MiB
	envPrefix          = "WHARF"
)

// ConfigError lists every problem found in a configuration, one per
// entry, each naming the key (or environment variable) it is about.
type ConfigError struct {
	Problems []string
}

func (e *ConfigError) Error() string { return strings.Join(e.Problems, "\n") }

// DefaultConfig returns the embedded default: data under ./wharf-data and
// one local-disk backend named "local" in ./wharf-data/files.
func DefaultConfig() *Config {
	return &Config{
		DataDir: DefaultDataDir,
		Log:     LogConfig{Format: "text", Level: "info"},
		Storage: StorageConfig{UploadBudget: storage.DefaultUploadBudget, Times: "store"},
	}
}

// LoadConfig reads the YAML file at path (none if path is ""), applies the
// WHARF_… variables found in environ (as returned by os.Environ), fills in
// defaults, makes relative paths absolute, and validates the result. Any
// problem is reported in a *ConfigError.
func LoadConfig(path string, environ []string) (*Config, error) {
	cfg := DefaultConfig()
	var problems []string
	if path != "" {
		cfg.file = path
		problems = append(problems, decodeFile(path, cfg)...)
		if len(problems) > 0 {
			return nil, &ConfigError{Problems: problems}
		}
	}
	if cfg.Backends == nil {
		cfg.Backends = map[string]BackendConfig{DefaultBackendName: {}}
		cfg.defaultBackend = true
	}
	problems = append(problems, applyEnv(cfg, environ)...)
	if len(problems) > 0 {
		return nil, &ConfigError{Problems: problems}
	}
	if err := cfg.normalize(); err != nil {
		return nil, &ConfigError{Problems: []string{err.Error()}}
	}
	if problems := cfg.validate(); len(problems) > 0 {
		return nil, &ConfigError{Problems: problems}
	}
	return cfg, nil
}

// decodeFile decodes the file at path over cfg. Unknown keys and values of
// the wrong shape are reported with their full key path before the strict
// decode (KnownFields) runs.
func decodeFile(path string, cfg *Config) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		return []string{err.Error()}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return []string{fmt.Sprintf("%s: %v", path, err)}
	}
	var problems []string
	checkNode(&doc, reflect.TypeFor[Config](), "", &problems)
	if len(problems) > 0 {
		return problems
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err = dec.Decode(cfg)
	if te, ok := errors.AsType[*yaml.TypeError](err); ok {
		var problems []string
		for _, e := range te.Errors {
			problems = append(problems, fmt.Sprintf("%s: %s", path, e))
		}
		return problems
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return []string{fmt.Sprintf("%s: %v", path, err)}
	}
	return nil
}

// normalize fills in defaults that depend on other keys and makes paths
// absolute.
func (c *Config) normalize() error {
	if c.DataDir != "" {
		abs, err := filepath.Abs(c.DataDir)
		if err != nil {
			return fmt.Errorf("data_dir: %v", err)
		}
		c.DataDir = abs
	}
	for name, b := range c.Backends {
		if name == DefaultBackendName && c.defaultBackend && b.URL == "" && c.DataDir != "" {
			b.URL = (&url.URL{Scheme: "file", Path: filepath.ToSlash(filepath.Join(c.DataDir, "files"))}).String()
		}
		if b.PartSize == 0 {
			b.PartSize = storage.DefaultPartSize
		}
		if b.Concurrency == 0 {
			b.Concurrency = storage.DefaultConcurrency
		}
		c.Backends[name] = b
	}
	return nil
}

var backendName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// validate returns one message per problem, each naming its key.
func (c *Config) validate() []string {
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	if c.DataDir == "" {
		add("data_dir: must not be empty")
	}
	oneOf := func(key, v string, allowed ...string) {
		if !slices.Contains(allowed, v) {
			add("%s: %q is not one of %s", key, v, strings.Join(allowed, ", "))
		}
	}
	oneOf("log.format", c.Log.Format, "text", "json")
	oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	oneOf("storage.times", c.Storage.Times, "store", "ignore")
	if c.Storage.UploadBudget < minUploadBudget {
		add("storage.upload_budget: must be at least %s (got %s)", minUploadBudget, c.Storage.UploadBudget)
	}

	if len(c.Backends) == 0 {
		add("backends: at least one backend is required")
	}
	var largest struct {
		key  string
		size Size
	}
	for _, name := range c.backendNames() {
		b := c.Backends[name]
		key := "backends." + name
		if !backendName.MatchString(name) {
			add("%s: invalid backend name (want lower-case letters, digits and underscores, starting with a letter, at most 63)", key)
		}
		if err := checkBackendURL(b.URL); err != nil {
			add("%s.url: %v", key, err)
		}
		if b.PartSize < storage.MinPartSize || b.PartSize > storage.MaxPartSize || b.PartSize%MiB != 0 {
			add("%s.part_size: must be a multiple of 1MiB between %s and %s (got %s)",
				key, Size(storage.MinPartSize), Size(storage.MaxPartSize), b.PartSize)
		} else if b.PartSize > largest.size {
			largest.key, largest.size = key+".part_size", b.PartSize
		}
		if b.Concurrency < 1 || b.Concurrency > storage.MaxConcurrency {
			add("%s.concurrency: must be between 1 and %d (got %d)", key, storage.MaxConcurrency, b.Concurrency)
		}
	}
	// An upload waits for budget before it fills a part: a part larger than
	// the whole budget could never be filled.
	if c.Storage.UploadBudget >= minUploadBudget && largest.size > c.Storage.UploadBudget {
		add("storage.upload_budget: must be at least the largest part size (%s is %s, budget %s)",
			largest.key, largest.size, c.Storage.UploadBudget)
	}
	return p
}

// checkBackendURL checks what can be checked of a backend URL without
// opening it.
func checkBackendURL(raw string) error {
	if raw == "" {
		return errors.New("required (file:///path, s3://bucket?region=…, or mem://)")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("invalid URL: %v", errors.Unwrap(err))
	}
	if u.Query().Has("key") {
		return errors.New(`option "key" is not supported`)
	}
	switch u.Scheme {
	case "file":
		_, err := fileDir(u)
		return err
	case "s3":
		if u.Host == "" {
			return errors.New("s3 URL needs a bucket name (s3://bucket?region=…)")
		}
	case "mem":
	default:
		return fmt.Errorf("unsupported scheme %q (want file, s3 or mem)", u.Scheme)
	}
	return nil
}
