package server

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wharf-gw/wharf/auth"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want Size
		err  string // substring of the error; "" for none
	}{
		{in: "0", want: 0},
		{in: "1048576", want: MiB},
		{in: "256MiB", want: 256 * MiB},
		{in: "8MB", want: 8_000_000},
		{in: "1GiB", want: GiB},
		{in: "2TiB", want: 2 * TiB},
		{in: "3KiB", want: 3 * KiB},
		{in: "5kb", want: 5000},
		{in: "16 MiB", want: 16 * MiB},
		{in: " 7mib ", want: 7 * MiB},
		{in: "12B", want: 12},
		{in: "1GB", want: 1_000_000_000},
		{in: "", err: "invalid size"},
		{in: "MiB", err: "invalid size"},
		{in: "-1MiB", err: "invalid size"},
		{in: "1.5GiB", err: `unknown unit ".5GiB"`},
		{in: "8XB", err: `unknown unit "XB"`},
		{in: "8 M", err: `unknown unit "M"`},
		{in: "9223372036854775807", want: 1<<63 - 1},
		{in: "9223372036854775808", err: "too large"},
		{in: "9000000TiB", err: "too large"},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseSize(%q) = %d, %v; want error containing %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestSizeString(t *testing.T) {
	tests := []struct {
		in   Size
		want string
	}{
		{0, "0"},
		{1, "1"},
		{KiB, "1KiB"},
		{1536, "1536"},
		{256 * MiB, "256MiB"},
		{8_000_000, "8000000"},
		{3 * GiB, "3GiB"},
		{1024 * GiB, "1TiB"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("Size(%d).String() = %q, want %q", int64(tt.in), got, tt.want)
		}
		if back, err := ParseSize(tt.in.String()); err != nil || back != tt.in {
			t.Errorf("ParseSize(%q) = %d, %v; want round trip to %d", tt.in.String(), back, err, int64(tt.in))
		}
	}
}

// withDefaults fills in the store, auth, defender and front-end sections
// of c as LoadConfig does when they are not configured.
func withDefaults(c *Config) *Config {
	d := DefaultConfig()
	c.Store, c.Auth, c.Defender = d.Store, d.Auth, d.Defender
	c.FTP, c.SFTP, c.Admin, c.Limits, c.Shutdown, c.Node = d.FTP, d.SFTP, d.Admin, d.Limits, d.Shutdown, d.Node
	c.Store.DSN = filepath.Join(c.DataDir, "wharf.db")
	return c
}

// load writes yaml (if not "") to a file and loads it with env.
func load(t *testing.T, yaml string, env ...string) (*Config, error) {
	t.Helper()
	path := ""
	if yaml != "" {
		path = filepath.Join(t.TempDir(), "wharf.yaml")
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return LoadConfig(path, env)
}

func abs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestLoadConfigDefault(t *testing.T) {
	cfg, err := LoadConfig("", []string{"HOME=/root", "PATH=/bin", "WHARFISH=1"})
	if err != nil {
		t.Fatal(err)
	}
	dataDir := abs(t, "wharf-data")
	want := withDefaults(&Config{
		DataDir: dataDir,
		Log:     LogConfig{Format: "text", Level: "info"},
		Storage: StorageConfig{UploadBudget: 256 * MiB, Times: "store"},
		Backends: map[string]BackendConfig{
			"local": {URL: "file://" + filepath.ToSlash(dataDir) + "/files", PartSize: 8 * MiB, Concurrency: 4},
		},
		defaultBackend: true,
	})
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("default config:\n got %+v\nwant %+v", cfg, want)
	}
}

func TestLoadConfigFile(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  []string
		want *Config
	}{{
		name: "everything",
		yaml: `
data_dir: /srv/wharf
log:
  format: json
  level: debug
storage:
  upload_budget: 1GiB
  times: ignore
backends:
  local:
    url: file:///srv/files
    part_size: 16MiB
    concurrency: 8
  s3main:
    url: s3://bucket?endpoint=http://127.0.0.1:9000&region=us-east-1&use_path_style=true
    part_size: 5242880
  scratch:
    url: mem://
`,
		want: withDefaults(&Config{
			DataDir: "/srv/wharf",
			Log:     LogConfig{Format: "json", Level: "debug"},
			Storage: StorageConfig{UploadBudget: GiB, Times: "ignore"},
			Backends: map[string]BackendConfig{
				"local":   {URL: "file:///srv/files", PartSize: 16 * MiB, Concurrency: 8},
				"s3main":  {URL: "s3://bucket?endpoint=http://127.0.0.1:9000&region=us-east-1&use_path_style=true", PartSize: 5 * MiB, Concurrency: 4},
				"scratch": {URL: "mem://", PartSize: 8 * MiB, Concurrency: 4},
			},
		}),
	}, {
		name: "partial file keeps defaults and the default backend",
		yaml: "log:\n  level: warn\n",
		want: withDefaults(&Config{
			DataDir: abs(t, "wharf-data"),
			Log:     LogConfig{Format: "text", Level: "warn"},
			Storage: StorageConfig{UploadBudget: 256 * MiB, Times: "store"},
			Backends: map[string]BackendConfig{
				"local": {URL: "file://" + filepath.ToSlash(abs(t, "wharf-data")) + "/files", PartSize: 8 * MiB, Concurrency: 4},
			},
			defaultBackend: true,
		}),
	}, {
		name: "empty file",
		yaml: "# nothing\n",
		want: withDefaults(&Config{
			DataDir: abs(t, "wharf-data"),
			Log:     LogConfig{Format: "text", Level: "info"},
			Storage: StorageConfig{UploadBudget: 256 * MiB, Times: "store"},
			Backends: map[string]BackendConfig{
				"local": {URL: "file://" + filepath.ToSlash(abs(t, "wharf-data")) + "/files", PartSize: 8 * MiB, Concurrency: 4},
			},
			defaultBackend: true,
		}),
	}, {
		name: "env overrides the file",
		yaml: `
data_dir: /srv/wharf
log: {format: text}
backends:
  s3main:
    url: s3://bucket?region=us-east-1
    concurrency: 2
`,
		env: []string{
			"WHARF_LOG_FORMAT=json",
			"WHARF_LOG_LEVEL=error",
			"WHARF_DATA_DIR=/var/lib/wharf",
			"WHARF_STORAGE_UPLOAD_BUDGET=64MiB",
			"WHARF_STORAGE_TIMES=ignore",
			"WHARF_BACKENDS_S3MAIN_CONCURRENCY=16",
			"WHARF_BACKENDS_S3MAIN_PART_SIZE=32MiB",
			// Declares a new backend; the name is read back in lower case.
			"WHARF_BACKENDS_SCRATCH_DISK_URL=file:///tmp/scratch",
			"OTHER=ignored",
		},
		want: withDefaults(&Config{
			DataDir: "/var/lib/wharf",
			Log:     LogConfig{Format: "json", Level: "error"},
			Storage: StorageConfig{UploadBudget: 64 * MiB, Times: "ignore"},
			Backends: map[string]BackendConfig{
				"s3main":       {URL: "s3://bucket?region=us-east-1", PartSize: 32 * MiB, Concurrency: 16},
				"scratch_disk": {URL: "file:///tmp/scratch", PartSize: 8 * MiB, Concurrency: 4},
			},
		}),
	}, {
		name: "env alone, no file: default backend tuned, data_dir moves it",
		env: []string{
			"WHARF_DATA_DIR=/var/lib/wharf",
			"WHARF_BACKENDS_LOCAL_CONCURRENCY=3",
			"WHARF_BACKENDS_SHARED_URL=s3://shared?region=eu-west-1&prefix=team/",
		},
		want: withDefaults(&Config{
			DataDir: "/var/lib/wharf",
			Log:     LogConfig{Format: "text", Level: "info"},
			Storage: StorageConfig{UploadBudget: 256 * MiB, Times: "store"},
			Backends: map[string]BackendConfig{
				"local":  {URL: "file:///var/lib/wharf/files", PartSize: 8 * MiB, Concurrency: 3},
				"shared": {URL: "s3://shared?region=eu-west-1&prefix=team/", PartSize: 8 * MiB, Concurrency: 4},
			},
			defaultBackend: true,
		}),
	}, {
		name: "store, auth and defender",
		yaml: `
data_dir: /srv/wharf
store:
  driver: postgres
  dsn: postgres://wharf@db.internal:5432/wharf?sslmode=verify-full
auth:
  argon2: {memory: 131072, time: 4, threads: 4}
defender:
  enabled: false
  max_failures: 10
  window: 1h
  ban_time: 24h
  delay: 250ms
  max_delay: 2s
  allow: [10.0.0.0/8, "2001:db8::/32", 192.0.2.7]
`,
		want: &Config{
			DataDir: "/srv/wharf",
			Log:     LogConfig{Format: "text", Level: "info"},
			Storage: StorageConfig{UploadBudget: 256 * MiB, Times: "store"},
			Backends: map[string]BackendConfig{
				"local": {URL: "file:///srv/wharf/files", PartSize: 8 * MiB, Concurrency: 4},
			},
			Store: StoreConfig{Driver: "postgres", DSN: "postgres://wharf@db.internal:5432/wharf?sslmode=verify-full"},
			Auth:  AuthConfig{Argon2: Argon2Config{Memory: 131072, Time: 4, Threads: 4}},
			Defender: DefenderConfig{Enabled: false, MaxFailures: 10, Window: Duration(time.Hour), BanTime: Duration(24 * time.Hour),
				Delay: Duration(250 * time.Millisecond), MaxDelay: Duration(2 * time.Second),
				Allow: []string{"10.0.0.0/8", "2001:db8::/32", "192.0.2.7"}},
			defaultBackend: true,
		},
	}, {
		name: "store, auth and defender from the environment",
		env: []string{
			"WHARF_DATA_DIR=/srv/wharf",
			"WHARF_STORE_DSN=/var/db/wharf.sqlite",
			"WHARF_AUTH_ARGON2_MEMORY=32768",
			"WHARF_AUTH_ARGON2_THREADS=1",
			"WHARF_DEFENDER_ENABLED=false",
			"WHARF_DEFENDER_WINDOW=90s",
			"WHARF_DEFENDER_ALLOW=10.0.0.0/8, 127.0.0.1,,::1",
		},
		want: &Config{
			DataDir: "/srv/wharf",
			Log:     LogConfig{Format: "text", Level: "info"},
			Storage: StorageConfig{UploadBudget: 256 * MiB, Times: "store"},
			Backends: map[string]BackendConfig{
				"local": {URL: "file:///srv/wharf/files", PartSize: 8 * MiB, Concurrency: 4},
			},
			Store: StoreConfig{Driver: "sqlite", DSN: "/var/db/wharf.sqlite"},
			Auth:  AuthConfig{Argon2: Argon2Config{Memory: 32768, Time: auth.DefaultArgon2().Time, Threads: 1}},
			Defender: DefenderConfig{Enabled: false, MaxFailures: 5, Window: Duration(90 * time.Second), BanTime: Duration(30 * time.Minute),
				Delay: Duration(500 * time.Millisecond), MaxDelay: Duration(5 * time.Second),
				Allow: []string{"10.0.0.0/8", "127.0.0.1", "::1"}},
			defaultBackend: true,
		},
	}, {
		name: "front ends, limits and shutdown",
		yaml: `data_dir: /srv/wharf
ftp:
  listen: ""
  implicit_tls_listen: ":990"
  cert_file: /etc/wharf/cert.pem
  key_file: /etc/wharf/key.pem
  require_tls: true
  passive_ports: 40000-40009
  public_ip: 198.51.100.7
  idle_timeout: 1m
  login_timeout: 10s
sftp:
  listen: 0.0.0.0:22
  host_key_files: [/etc/wharf/ssh_host_ed25519_key]
  max_auth_tries: 6
  write_window: 8MiB
  max_spill: 0
  spill_dir: /var/tmp/wharf
admin:
  listen: ""
limits: {max_sessions: 10, max_sessions_per_address: 2}
shutdown: {grace: 2m}
`,
		env: []string{"WHARF_SFTP_CIPHERS=aes256-gcm@openssh.com", "WHARF_SFTP_AUTH_TIMEOUT=1m"},
		want: withDefaults(&Config{
			DataDir: "/srv/wharf",
			Log:     LogConfig{Format: "text", Level: "info"},
			Storage: StorageConfig{UploadBudget: 256 * MiB, Times: "store"},
			Backends: map[string]BackendConfig{
				"local": {URL: "file:///srv/wharf/files", PartSize: 8 * MiB, Concurrency: 4},
			},
			defaultBackend: true,
		}),
	}}
	tests[len(tests)-1].want.FTP = FTPConfig{ImplicitTLSListen: ":990", CertFile: "/etc/wharf/cert.pem", KeyFile: "/etc/wharf/key.pem",
		RequireTLS: true, PassivePorts: "40000-40009", PublicIP: "198.51.100.7", IdleTimeout: Duration(time.Minute),
		LoginTimeout: Duration(10 * time.Second), DataTimeout: Duration(30 * time.Second),
		UploadSettle: Duration(25 * time.Millisecond)}
	tests[len(tests)-1].want.SFTP = SFTPConfig{Listen: "0.0.0.0:22", HostKeyFiles: []string{"/etc/wharf/ssh_host_ed25519_key"},
		Ciphers: []string{"aes256-gcm@openssh.com"}, IdleTimeout: Duration(15 * time.Minute),
		HandshakeTimeout: Duration(20 * time.Second), AuthTimeout: Duration(time.Minute), MaxAuthTries: 6,
		WriteWindow: 8 * MiB, MaxSpill: 0, SpillDir: "/var/tmp/wharf", ReadWindow: 2560 * KiB, WindowBudget: 256 * MiB}
	tests[len(tests)-1].want.Admin = AdminConfig{LoginTTL: Duration(time.Hour)}
	tests[len(tests)-1].want.Limits = LimitsConfig{MaxSessions: 10, MaxSessionsPerAddress: 2}
	tests[len(tests)-1].want.Shutdown = ShutdownConfig{Grace: Duration(2 * time.Minute)}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				cfg *Config
				err error
			)
			if tt.yaml == "" {
				cfg, err = LoadConfig("", tt.env)
			} else {
				cfg, err = load(t, tt.yaml, tt.env...)
			}
			if err != nil {
				t.Fatal(err)
			}
			cfg.file = ""
			if tt.want.SFTP.Listen == "" { // cases about other sections: the front ends keep their defaults
				d := DefaultConfig()
				tt.want.FTP, tt.want.SFTP, tt.want.Admin, tt.want.Limits, tt.want.Shutdown, tt.want.Node = d.FTP, d.SFTP, d.Admin, d.Limits, d.Shutdown, d.Node
			}
			if !reflect.DeepEqual(cfg, tt.want) {
				t.Errorf("config:\n got %+v\nwant %+v", cfg, tt.want)
			}
		})
	}
}

func TestLoadConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string // "" for no file
		env  []string
		want []string // every problem, in order
	}{{
		name: "unknown top-level key",
		yaml: "data_dir: x\nlisten: :21\n",
		want: []string{"listen: unknown key (line 2; known keys here: data_dir, log, storage, backends, store, auth, defender, ftp, sftp, admin, limits, shutdown, node)"},
	}, {
		name: "unknown nested keys are all named with their path",
		yaml: "log:\n  colour: blue\nbackends:\n  local:\n    uri: file:///x\n    url: file:///x\n",
		want: []string{
			"log.colour: unknown key (line 2; known keys here: format, level)",
			"backends.local.uri: unknown key (line 5; known keys here: url, part_size, concurrency)",
		},
	}, {
		name: "values of the wrong shape",
		yaml: "storage:\n  upload_budget: lots\nbackends:\n  local:\n    url: [a, b]\n    concurrency: four\n    part_size: 8XB\nlog: text\n",
		want: []string{
			`storage.upload_budget: invalid size "lots" (want bytes or a number with a unit such as 256MiB, 8MB, 1GiB) (line 2)`,
			"backends.local.url: want a single value, not a list (line 5)",
			`backends.local.concurrency: want an integer, got "four" (line 6)`,
			`backends.local.part_size: invalid size "8XB": unknown unit "XB" (want B, KB, MB, GB, TB, KiB, MiB, GiB or TiB) (line 7)`,
			"log: want a mapping, not a value (line 8)",
		},
	}, {
		name: "backends must be a mapping",
		yaml: "backends:\n  - url: mem://\n",
		want: []string{"backends: want a mapping of names, not a list (line 2)"},
	}, {
		name: "every validation names its key",
		yaml: `
data_dir: ""
log:
  format: xml
  level: verbose
storage:
  upload_budget: 1MiB
  times: keep
backends:
  s3main:
    url: ftp://example.com/
  nourl:
    concurrency: 65
  small:
    url: mem://
    part_size: 4MiB
    concurrency: -1
  odd:
    url: mem://
    part_size: 8MB
  huge:
    url: mem://
    part_size: 1GiB
  Upper:
    url: mem://
  remote:
    url: file://server/share
  nobucket:
    url: s3://?region=x
  single:
    url: mem://?key=a
`,
		want: []string{
			"data_dir: must not be empty",
			`log.format: "xml" is not one of text, json`,
			`log.level: "verbose" is not one of debug, info, warn, error`,
			`storage.times: "keep" is not one of store, ignore`,
			"storage.upload_budget: must be at least 16MiB (got 1MiB)",
			"backends.Upper: invalid backend name (want lower-case letters, digits and underscores, starting with a letter, at most 63)",
			"backends.huge.part_size: must be a multiple of 1MiB between 5MiB and 512MiB (got 1GiB)",
			`backends.nobucket.url: s3 URL needs a bucket name (s3://bucket?region=…)`,
			"backends.nourl.url: required (file:///path, s3://bucket?region=…, or mem://)",
			"backends.nourl.concurrency: must be between 1 and 64 (got 65)",
			"backends.odd.part_size: must be a multiple of 1MiB between 5MiB and 512MiB (got 8000000)",
			`backends.remote.url: file URL names a host ("server"); write file:///abs/path or file://./relative/path`,
			`backends.s3main.url: unsupported scheme "ftp" (want file, s3 or mem)`,
			`backends.single.url: option "key" is not supported`,
			"backends.small.part_size: must be a multiple of 1MiB between 5MiB and 512MiB (got 4MiB)",
			"backends.small.concurrency: must be between 1 and 64 (got -1)",
		},
	}, {
		name: "store, auth and defender values",
		yaml: `
store: {driver: mysql}
auth: {argon2: {memory: 1024, time: 0, threads: 0}}
defender:
  max_failures: 0
  window: 0s
  ban_time: -1m
  delay: 2s
  max_delay: 1s
  allow: [10.0.0.1/8, bogus, "::ffff:10.0.0.0/104", "10.0.0.0/33"]
`,
		want: []string{
			`store.driver: "mysql" is not one of sqlite, postgres`,
			"auth.argon2.memory: argon2 memory 1024 KiB: at least 8192 KiB",
			"auth.argon2.time: argon2 time 0: between 1 and 64",
			"auth.argon2.threads: argon2 threads 0: at least 1",
			"defender.max_failures: must be at least 1 (got 0)",
			"defender.window: must be positive (got 0s)",
			"defender.ban_time: must be positive (got -1m0s)",
			"defender.max_delay: must be at least defender.delay (2s; got 1s)",
			`defender.allow[0]: "10.0.0.1/8" has bits set after the prefix length (did you mean 10.0.0.0/8?)`,
			`defender.allow[1]: "bogus" is not a network (want CIDR such as 10.0.0.0/8 or 2001:db8::/32, or one address)`,
			`defender.allow[2]: "::ffff:10.0.0.0/104": write IPv4 networks in IPv4 form (such as 10.0.0.0/8)`,
			`defender.allow[3]: "10.0.0.0/33" is not a network (want CIDR such as 10.0.0.0/8 or 2001:db8::/32, or one address)`,
		},
	}, {
		name: "front ends",
		yaml: `
ftp: {listen: "2121", passive_ports: 80-90, public_ip: "2001:db8::1", cert_file: c.pem}
sftp: {listen: "host:", idle_timeout: -1s, auth_timeout: -1s, max_auth_tries: 0, write_window: 64KiB, read_window: 1KiB}
admin: {key_file: k.pem}
limits: {max_sessions: -1}
shutdown: {grace: -5s}
`,
		want: []string{
			`ftp.listen: "2121" is not a listen address (want HOST:PORT or :PORT)`,
			`sftp.listen: "host:" is not a listen address (want HOST:PORT or :PORT)`,
			`ftp.passive_ports: "80-90": want FIRST-LAST with 1024 <= FIRST <= LAST <= 65535`,
			`ftp.public_ip: "2001:db8::1" is not an IPv4 address`,
			"ftp.cert_file, ftp.key_file: give both or neither",
			"admin.cert_file, admin.key_file: give both or neither",
			"sftp.idle_timeout: must not be negative (got -1s)",
			"sftp.auth_timeout: must not be negative (got -1s)",
			"shutdown.grace: must not be negative (got -5s)",
			"sftp.max_auth_tries: must be at least 1 (got 0)",
			"sftp.write_window: must be at least 256KiB (got 64KiB)",
			"sftp.read_window: must be at least 512KiB (got 1KiB)",
			"limits.max_sessions: must not be negative (got -1)",
		},
	}, {
		name: "store, auth and defender shapes",
		yaml: `
store: {dsn: [a]}
auth: {argon2: {memory: lots, threads: 300}}
defender:
  enabled: maybe
  window: 10
  delay: [1s]
  allow: 10.0.0.0/8
`,
		want: []string{
			"store.dsn: want a single value, not a list (line 2)",
			`auth.argon2.memory: want an integer from 0 to 4294967295, got "lots" (line 3)`,
			`auth.argon2.threads: want an integer from 0 to 255, got "300" (line 3)`,
			`defender.enabled: want true or false, got "maybe" (line 5)`,
			`defender.window: invalid duration "10" (want a number with a unit such as 500ms, 10m, 1h30m) (line 6)`,
			"defender.delay: want a single value, not a list (line 7)",
			"defender.allow: want a list, not a value (line 8)",
		},
	}, {
		name: "sqlite DSN is a path",
		yaml: "store: {driver: sqlite, dsn: 'file:wharf.db?cache=shared'}\n",
		want: []string{"store.dsn: for sqlite, the database file's path (no file: URI, no ?options)"},
	}, {
		name: "postgres needs a DSN",
		env:  []string{"WHARF_STORE_DRIVER=postgres"},
		want: []string{"store.dsn: required for postgres: postgres://USER@HOST:5432/DATABASE (give it in WHARF_STORE_DSN to keep the password out of the file)"},
	}, {
		name: "postgres DSN problems never quote the DSN",
		env:  []string{"WHARF_STORE_DRIVER=postgres", "WHARF_STORE_DSN=host=db password=hunter2"},
		want: []string{"store.dsn: want a URL such as postgres://USER@HOST:5432/DATABASE?sslmode=verify-full"},
	}, {
		name: "postgres DSN without a database",
		env:  []string{"WHARF_STORE_DRIVER=postgres", "WHARF_STORE_DSN=postgres://u:hunter2@db:5432/"},
		want: []string{"store.dsn: the URL names no database (postgres://USER@HOST:5432/DATABASE)"},
	}, {
		name: "defender environment values",
		env:  []string{"WHARF_DEFENDER_WINDOW=soon", "WHARF_DEFENDER_ALLOW=10.0.0.0/8,nope", "WHARF_AUTH_ARGON2_THREADS=-1"},
		want: []string{
			`auth.argon2.threads (from WHARF_AUTH_ARGON2_THREADS): want an integer from 0 to 255, got "-1"`,
			`defender.window (from WHARF_DEFENDER_WINDOW): invalid duration "soon" (want a number with a unit such as 500ms, 10m, 1h30m)`,
		},
	}, {
		name: "defender allow list from the environment is validated",
		env:  []string{"WHARF_DEFENDER_ALLOW=10.0.0.0/8,nope"},
		want: []string{`defender.allow[1]: "nope" is not a network (want CIDR such as 10.0.0.0/8 or 2001:db8::/32, or one address)`},
	}, {
		name: "budget smaller than a part",
		yaml: "storage: {upload_budget: 32MiB}\nbackends:\n  big: {url: 'mem://', part_size: 64MiB}\n",
		want: []string{"storage.upload_budget: must be at least the largest part size (backends.big.part_size is 64MiB, budget 32MiB)"},
	}, {
		name: "no backends at all",
		yaml: "backends: {}\n",
		want: []string{"backends: at least one backend is required"},
	}, {
		name: "unknown and malformed environment variables",
		env: []string{
			"WHARF_LOG_COLOUR=blue",
			"WHARF_BACKENDS_LOCAL_URI=file:///x",
			"WHARF_BACKENDS_URL=file:///x",
			"WHARF_STORAGE_UPLOAD_BUDGET=huge",
			"WHARF_BACKENDS_LOCAL_CONCURRENCY=many",
		},
		want: []string{
			`storage.upload_budget (from WHARF_STORAGE_UPLOAD_BUDGET): invalid size "huge" (want bytes or a number with a unit such as 256MiB, 8MB, 1GiB)`,
			`backends.local.concurrency (from WHARF_BACKENDS_LOCAL_CONCURRENCY): want an integer, got "many"`,
			"WHARF_BACKENDS_LOCAL_URI: unknown environment variable (it matches no configuration key)",
			"WHARF_BACKENDS_URL: unknown environment variable (it matches no configuration key)",
			"WHARF_LOG_COLOUR: unknown environment variable (it matches no configuration key)",
		},
	}, {
		name: "environment values are validated like file values",
		env:  []string{"WHARF_BACKENDS_ARCHIVE_URL=gs://bucket", "WHARF_LOG_FORMAT=xml"},
		want: []string{
			`log.format: "xml" is not one of text, json`,
			`backends.archive.url: unsupported scheme "gs" (want file, s3 or mem)`,
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.yaml == "" {
				_, err = LoadConfig("", tt.env)
			} else {
				_, err = load(t, tt.yaml, tt.env...)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a *ConfigError", err)
			}
			if !reflect.DeepEqual(ce.Problems, tt.want) {
				t.Errorf("problems:\n got %q\nwant %q", ce.Problems, tt.want)
			}
		})
	}
}

func TestLoadConfigFileErrors(t *testing.T) {
	_, err := LoadConfig(filepath.Join(t.TempDir(), "missing.yaml"), nil)
	if err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: err = %v, want one naming the file", err)
	}
	_, err = load(t, "log:\n  format: [text\n")
	if err == nil || !strings.Contains(err.Error(), "wharf.yaml: yaml: line") {
		t.Errorf("syntax error: err = %v, want one naming the file and line", err)
	}
	_, err = load(t, "log:\n  level: info\n  level: debug\n")
	if ce, ok := errors.AsType[*ConfigError](err); !ok || len(ce.Problems) != 1 ||
		!strings.HasSuffix(ce.Problems[0], `wharf.yaml: line 3: mapping key "level" already defined at line 2`) {
		t.Errorf("duplicate key: err = %v, want it reported", err)
	}
}

func TestLoadConfigNotAMapping(t *testing.T) {
	_, err := load(t, "just a string\n")
	var ce *ConfigError
	if !errors.As(err, &ce) || len(ce.Problems) != 1 || ce.Problems[0] != "top level: want a mapping, not a value (line 1)" {
		t.Errorf("err = %v, want the top level named", err)
	}
}

func TestConfigAuthConversions(t *testing.T) {
	cfg, err := LoadConfig("", []string{
		"WHARF_DATA_DIR=/srv/wharf",
		"WHARF_DEFENDER_ALLOW=10.0.0.0/8,192.0.2.7,2001:db8::/32",
		"WHARF_DEFENDER_MAX_FAILURES=3",
		"WHARF_AUTH_ARGON2_TIME=2",
	})
	if err != nil {
		t.Fatal(err)
	}
	d := cfg.defender()
	want := auth.DefaultDefender()
	want.MaxFailures = 3
	want.Allow = []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("192.0.2.7/32"),
		netip.MustParsePrefix("2001:db8::/32"),
	}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("defender config = %+v, want %+v", d, want)
	}
	if _, err := auth.NewDefender(nil, d, nil); err != nil {
		t.Errorf("auth.NewDefender refuses a validated configuration: %v", err)
	}
	if a := cfg.argon2(); a != (auth.Argon2Params{Memory: auth.DefaultArgon2().Memory, Time: 2, Threads: auth.DefaultArgon2().Threads}) {
		t.Errorf("argon2 = %+v", a)
	}
	if s := cfg.store(); s != (auth.StoreConfig{Driver: "sqlite", DSN: "/srv/wharf/wharf.db"}) {
		t.Errorf("store = %+v", s)
	}
}
