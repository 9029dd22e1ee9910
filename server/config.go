package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/wharf-gw/wharf/auth"
	"github.com/wharf-gw/wharf/protocols/ftp"
	"github.com/wharf-gw/wharf/protocols/sftp"
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
	Store    StoreConfig              `yaml:"store"`
	Auth     AuthConfig               `yaml:"auth"`
	Defender DefenderConfig           `yaml:"defender"`
	FTP      FTPConfig                `yaml:"ftp"`
	SFTP     SFTPConfig               `yaml:"sftp"`
	Admin    AdminConfig              `yaml:"admin"`
	Limits   LimitsConfig             `yaml:"limits"`
	Shutdown ShutdownConfig           `yaml:"shutdown"`
	Node     NodeConfig               `yaml:"node"`

	// Version is wharf's version, which the node reports in its
	// heartbeats; set by the command, not configurable.
	Version string `yaml:"-"`

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

// StoreConfig says where users, keys, admins, bans and the cluster's
// shared secrets are kept.
type StoreConfig struct {
	// Driver is "sqlite" (the embedded default, one file) or "postgres"
	// (what a cluster of nodes shares).
	Driver string `yaml:"driver"`
	// DSN is, for sqlite, the database file (default DataDir/wharf.db;
	// relative paths are resolved against the working directory) and, for
	// postgres, a postgres:// URL. It may hold a password: it is never
	// logged unredacted.
	DSN string `yaml:"dsn"`
}

// AuthConfig tunes authentication.
type AuthConfig struct {
	Argon2 Argon2Config `yaml:"argon2"`
}

// Argon2Config is the argon2id cost of new password hashes (existing
// hashes keep theirs).
type Argon2Config struct {
	Memory  uint32 `yaml:"memory"`  // KiB
	Time    uint32 `yaml:"time"`    // passes
	Threads uint8  `yaml:"threads"` // lanes
}

// DefenderConfig tunes the defender against password guessing (see
// auth.Defender).
type DefenderConfig struct {
	Enabled     bool     `yaml:"enabled"`
	MaxFailures int      `yaml:"max_failures"` // failures from one address within Window that ban it
	Window      Duration `yaml:"window"`       // how long a failure counts
	BanTime     Duration `yaml:"ban_time"`     // how long a ban lasts
	Delay       Duration `yaml:"delay"`        // added per recent failure before a failed login is answered
	MaxDelay    Duration `yaml:"max_delay"`    // cap of that delay
	// Allow lists networks (CIDR, or single addresses) that are never
	// banned.
	Allow []string `yaml:"allow"`
}

// FTPConfig configures the FTP and FTPS front end.
type FTPConfig struct {
	// Listen is the plain FTP listener (AUTH TLS upgrades it); "" turns it
	// off.
	Listen string `yaml:"listen"`
	// ImplicitTLSListen is the implicit FTPS listener; "" (the default)
	// turns it off.
	ImplicitTLSListen string `yaml:"implicit_tls_listen"`
	// CertFile and KeyFile are a PEM certificate and key; without them a
	// self-signed certificate is generated once and shared through the
	// store.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// RequireTLS refuses logins and transfers without TLS on Listen.
	RequireTLS bool `yaml:"require_tls"`
	// PassivePorts is the passive data port range, "first-last".
	PassivePorts string `yaml:"passive_ports"`
	// PublicIP is the IPv4 address announced in PASV replies;
	// PublicIPFromEC2 discovers it from EC2 instance metadata (IMDSv2).
	PublicIP        string `yaml:"public_ip"`
	PublicIPFromEC2 bool   `yaml:"public_ip_from_ec2"`
	// ActiveMode allows PORT/EPRT (to the client's own address, ports of
	// 1024 and up).
	ActiveMode  bool     `yaml:"active_mode"`
	IdleTimeout Duration `yaml:"idle_timeout"`
	// LoginTimeout closes a connection not logged in after this long;
	// DataTimeout bounds the wait for a data connection to open.
	LoginTimeout Duration `yaml:"login_timeout"`
	DataTimeout  Duration `yaml:"data_timeout"`
	// UploadSettle is how long a finished upload waits for the client's
	// control connection to stay open before it is stored: a client that
	// dies mid-upload closes both of its connections, and its upload is
	// then discarded.
	UploadSettle Duration `yaml:"upload_settle"`
}

// SFTPConfig configures the SFTP front end.
type SFTPConfig struct {
	// Listen is the SSH listener; "" turns SFTP off.
	Listen string `yaml:"listen"`
	// HostKeyFiles are private host keys; without them ed25519, ecdsa and
	// rsa keys are generated once and shared through the store.
	HostKeyFiles []string `yaml:"host_key_files"`
	// KexAlgorithms, Ciphers and MACs override the default algorithm
	// lists (no SHA-1 is ever accepted).
	KexAlgorithms []string `yaml:"kex_algorithms"`
	Ciphers       []string `yaml:"ciphers"`
	MACs          []string `yaml:"macs"`
	IdleTimeout   Duration `yaml:"idle_timeout"`
	// HandshakeTimeout bounds the key exchange, AuthTimeout the
	// authentication after it; MaxAuthTries is the failed attempts one
	// connection may make.
	HandshakeTimeout Duration `yaml:"handshake_timeout"`
	AuthTimeout      Duration `yaml:"auth_timeout"`
	MaxAuthTries     int      `yaml:"max_auth_tries"`
	// WriteWindow is one upload's in-memory reorder buffer; data arriving
	// further ahead goes to a temporary file in SpillDir (the system's
	// temporary directory when empty), up to MaxSpill per upload.
	WriteWindow Size   `yaml:"write_window"`
	MaxSpill    Size   `yaml:"max_spill"`
	SpillDir    string `yaml:"spill_dir"`
	// ReadWindow is one download's read-ahead.
	ReadWindow Size `yaml:"read_window"`
	// WindowBudget bounds all read and write windows of the node together.
	WindowBudget Size `yaml:"window_budget"`
}

// AdminConfig configures the admin API, health endpoints and metrics.
type AdminConfig struct {
	// Listen is the HTTP listener; "" turns the admin API off.
	Listen   string `yaml:"listen"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// LoginTTL is the lifetime of the tokens POST /api/v1/auth/login
	// issues.
	LoginTTL Duration `yaml:"login_ttl"`
}

// LimitsConfig are this node's session limits (0: unlimited).
type LimitsConfig struct {
	MaxSessions           int `yaml:"max_sessions"`
	MaxSessionsPerAddress int `yaml:"max_sessions_per_address"`
}

// ShutdownConfig tunes the drain on SIGTERM.
type ShutdownConfig struct {
	// Grace is how long transfers in progress may run on after a drain
	// starts before their sessions are closed.
	Grace Duration `yaml:"grace"`
}

// NodeConfig names this node to the cluster.
type NodeConfig struct {
	// ID identifies the node in the shared store (default: the host
	// name).
	ID string `yaml:"id"`
	// Address is the node's public address, as clients reach it.
	Address string `yaml:"address"`
	// Heartbeat is how often the node records itself in the shared store;
	// a node silent for three heartbeats is no longer alive.
	Heartbeat Duration `yaml:"heartbeat"`
}

// Store drivers.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// Defaults that the embedded configuration uses.
const (
	DefaultDataDir     = "./wharf-data"
	DefaultBackendName = "local"
	DefaultSQLiteFile  = "wharf.db"
	minUploadBudget    = 16 * MiB
	envPrefix          = "WHARF"
)

// ConfigError lists every problem found in a configuration, one per
// entry, each naming the key (or environment variable) it is about.
type ConfigError struct {
	Problems []string
}

func (e *ConfigError) Error() string { return strings.Join(e.Problems, "\n") }

// DefaultConfig returns the embedded default: data under ./wharf-data,
// one local-disk backend named "local" in ./wharf-data/files, and the
// SQLite store ./wharf-data/wharf.db.
func DefaultConfig() *Config {
	a, d := auth.DefaultArgon2(), auth.DefaultDefender()
	return &Config{
		DataDir: DefaultDataDir,
		Log:     LogConfig{Format: "text", Level: "info"},
		Storage: StorageConfig{UploadBudget: storage.DefaultUploadBudget, Times: "store"},
		Store:   StoreConfig{Driver: DriverSQLite},
		Auth:    AuthConfig{Argon2: Argon2Config{Memory: a.Memory, Time: a.Time, Threads: a.Threads}},
		Defender: DefenderConfig{
			Enabled:     d.Enabled,
			MaxFailures: d.MaxFailures,
			Window:      Duration(d.Window),
			BanTime:     Duration(d.BanTime),
			Delay:       Duration(d.Delay),
			MaxDelay:    Duration(d.MaxDelay),
		},
		FTP: FTPConfig{Listen: ":2121", PassivePorts: "50000-50100",
			IdleTimeout: Duration(ftp.DefaultIdleTimeout), LoginTimeout: Duration(ftp.DefaultLoginTimeout),
			DataTimeout: Duration(ftp.DefaultDataConnTimeout), UploadSettle: Duration(ftp.DefaultUploadSettle)},
		SFTP: SFTPConfig{Listen: ":2022", IdleTimeout: Duration(sftp.DefaultIdleTimeout),
			HandshakeTimeout: Duration(sftp.DefaultHandshakeTimeout), AuthTimeout: Duration(sftp.DefaultAuthTimeout),
			MaxAuthTries: sftp.DefaultMaxAuthTries, WriteWindow: sftp.DefaultWriteWindow,
			MaxSpill: sftp.DefaultMaxSpill, ReadWindow: sftp.DefaultReadWindow, WindowBudget: sftp.DefaultWindowBudget},
		Admin:    AdminConfig{Listen: "127.0.0.1:8080", LoginTTL: Duration(time.Hour)},
		Limits:   LimitsConfig{MaxSessions: 1000, MaxSessionsPerAddress: 50},
		Shutdown: ShutdownConfig{Grace: Duration(30 * time.Second)},
		Node:     NodeConfig{Heartbeat: Duration(10 * time.Second)},
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
	if c.Store.Driver == DriverSQLite {
		if c.Store.DSN == "" && c.DataDir != "" {
			c.Store.DSN = filepath.Join(c.DataDir, DefaultSQLiteFile)
		}
		if c.Store.DSN != "" && !strings.HasPrefix(c.Store.DSN, "file:") && !strings.Contains(c.Store.DSN, "?") {
			abs, err := filepath.Abs(c.Store.DSN)
			if err != nil {
				return fmt.Errorf("store.dsn: %v", err)
			}
			c.Store.DSN = abs
		}
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
	p = append(p, c.validateStore()...)
	p = append(p, c.validateArgon2()...)
	p = append(p, c.validateDefender()...)
	p = append(p, c.validateFrontEnds()...)
	return p
}

func (c *Config) validateStore() []string {
	switch c.Store.Driver {
	case DriverSQLite:
		// Empty only when data_dir is, which is reported already.
		if strings.HasPrefix(c.Store.DSN, "file:") || strings.Contains(c.Store.DSN, "?") {
			return []string{"store.dsn: for sqlite, the database file's path (no file: URI, no ?options)"}
		}
	case DriverPostgres:
		if err := checkPostgresDSN(c.Store.DSN); err != nil {
			return []string{"store.dsn: " + err.Error()}
		}
	default:
		return []string{fmt.Sprintf("store.driver: %q is not one of %s, %s", c.Store.Driver, DriverSQLite, DriverPostgres)}
	}
	return nil
}

// checkPostgresDSN checks what can be checked of a PostgreSQL URL without
// connecting. Its messages never quote the DSN, which may hold a password.
func checkPostgresDSN(dsn string) error {
	if dsn == "" {
		return errors.New("required for postgres: postgres://USER@HOST:5432/DATABASE (give it in WHARF_STORE_DSN to keep the password out of the file)")
	}
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return errors.New("want a URL such as postgres://USER@HOST:5432/DATABASE?sslmode=verify-full")
	}
	if u.Host == "" && u.Query().Get("host") == "" {
		return errors.New("the URL names no host (postgres://USER@HOST:5432/DATABASE)")
	}
	if strings.Trim(u.Path, "/") == "" {
		return errors.New("the URL names no database (postgres://USER@HOST:5432/DATABASE)")
	}
	return nil
}

// validateArgon2 checks the argon2id cost with auth's own rules, one key
// at a time so that each problem names its key.
func (c *Config) validateArgon2() []string {
	var p []string
	a, d := c.argon2(), auth.DefaultArgon2()
	for _, f := range []struct {
		key    string
		params auth.Argon2Params
	}{
		{"auth.argon2.memory", auth.Argon2Params{Memory: a.Memory, Time: d.Time, Threads: d.Threads}},
		{"auth.argon2.time", auth.Argon2Params{Memory: d.Memory, Time: a.Time, Threads: d.Threads}},
		{"auth.argon2.threads", auth.Argon2Params{Memory: d.Memory, Time: d.Time, Threads: a.Threads}},
	} {
		if err := f.params.Validate(); err != nil {
			p = append(p, fmt.Sprintf("%s: %v", f.key, err))
		}
	}
	if err := a.Validate(); err != nil && len(p) == 0 {
		p = append(p, fmt.Sprintf("auth.argon2: %v", err))
	}
	return p
}

func (c *Config) validateDefender() []string {
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	d := c.Defender
	if d.MaxFailures < 1 {
		add("defender.max_failures: must be at least 1 (got %d)", d.MaxFailures)
	}
	if d.Window <= 0 {
		add("defender.window: must be positive (got %s)", d.Window)
	}
	if d.BanTime <= 0 {
		add("defender.ban_time: must be positive (got %s)", d.BanTime)
	}
	if d.Delay < 0 {
		add("defender.delay: must not be negative (got %s)", d.Delay)
	}
	if d.MaxDelay < 0 {
		add("defender.max_delay: must not be negative (got %s)", d.MaxDelay)
	} else if d.Delay >= 0 && d.MaxDelay < d.Delay {
		add("defender.max_delay: must be at least defender.delay (%s; got %s)", d.Delay, d.MaxDelay)
	}
	for i, s := range d.Allow {
		if _, err := parseNetwork(s); err != nil {
			add("defender.allow[%d]: %v", i, err)
		}
	}
	return p
}

// parseNetwork parses one defender.allow entry: a network in CIDR
// notation, or a single address.
func parseNetwork(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a network (want CIDR such as 10.0.0.0/8 or 2001:db8::/32, or one address)", s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	n, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a network (want CIDR such as 10.0.0.0/8 or 2001:db8::/32, or one address)", s)
	}
	if n.Addr().Is4In6() {
		return netip.Prefix{}, fmt.Errorf("%q: write IPv4 networks in IPv4 form (such as 10.0.0.0/8)", s)
	}
	if m := n.Masked(); m != n {
		return netip.Prefix{}, fmt.Errorf("%q has bits set after the prefix length (did you mean %s?)", s, m)
	}
	return n, nil
}

// argon2 returns the configured argon2id cost of new password
// hashes.
func (c *Config) argon2() auth.Argon2Params {
	a := c.Auth.Argon2
	return auth.Argon2Params{Memory: a.Memory, Time: a.Time, Threads: a.Threads}
}

// defender returns the defender's configuration. The configuration
// must have been validated (LoadConfig does).
func (c *Config) defender() auth.DefenderConfig {
	d := c.Defender
	out := auth.DefenderConfig{
		Enabled:     d.Enabled,
		MaxFailures: d.MaxFailures,
		Window:      time.Duration(d.Window),
		BanTime:     time.Duration(d.BanTime),
		Delay:       time.Duration(d.Delay),
		MaxDelay:    time.Duration(d.MaxDelay),
	}
	for _, s := range d.Allow {
		if n, err := parseNetwork(s); err == nil {
			out.Allow = append(out.Allow, n)
		}
	}
	return out
}

// store returns what auth.OpenStore needs to open the configured
// store.
func (c *Config) store() auth.StoreConfig {
	return auth.StoreConfig{Driver: c.Store.Driver, DSN: c.Store.DSN}
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
