package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/wharf-gw/wharf/auth"
)

// The administration commands (wharf user, wharf admin, wharf migrate)
// share this small framework: each subcommand is a function that parses
// its flags with call.parse, does its work, and returns an error. run
// turns that error into the one line (or, for several validation
// problems, one line per problem) on stderr and the exit status: 0 for
// success, 1 when the command failed, 2 for bad usage.

// call is one invocation of a subcommand.
type call struct {
	ctx     context.Context
	name    string // "user add", for messages
	help    string // printed for -h
	environ []string
	stdin   io.Reader
	stdout  io.Writer
	stderr  io.Writer

	configPath string // --config
	cfg        *Config
	store      auth.Store
}

// subcommand runs one subcommand on the arguments after its name.
type subcommand struct {
	run  func(c *call, args []string) error
	help string
}

// usageError is bad usage: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// errHelp says help was asked for and printed.
var errHelp = errors.New("help shown")

// dispatch runs the subcommand of group (user, admin) named by args[0].
func dispatch(ctx context.Context, group, help string, cmds map[string]subcommand, args, environ []string,
	stdin io.Reader, stdout, stderr io.Writer) int {
	c := &call{ctx: ctx, name: group, help: help, environ: environ, stdin: stdin, stdout: stdout, stderr: stderr}
	return c.finish(c.dispatch(cmds, args))
}

// dispatch runs the subcommand of c named by args[0] (wharf admin token
// create: "create" within "admin token").
func (c *call) dispatch(cmds map[string]subcommand, args []string) error {
	group := c.name
	if len(args) == 0 {
		return &usageError{msg: fmt.Sprintf("no subcommand given; one of %s", strings.Join(slices.Sorted(maps.Keys(cmds)), ", "))}
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(c.stdout, c.help)
		return errHelp
	}
	sub, ok := cmds[args[0]]
	if !ok {
		return &usageError{msg: fmt.Sprintf("unknown subcommand %q; one of %s", args[0], strings.Join(slices.Sorted(maps.Keys(cmds)), ", "))}
	}
	c.name, c.help = group+" "+args[0], sub.help
	return sub.run(c, args[1:])
}

// runOne runs a command that has no subcommands (wharf migrate).
func runOne(ctx context.Context, name string, sub subcommand, args, environ []string,
	stdin io.Reader, stdout, stderr io.Writer) int {
	c := &call{ctx: ctx, name: name, help: sub.help, environ: environ, stdin: stdin, stdout: stdout, stderr: stderr}
	return c.finish(sub.run(c, args))
}

// finish closes what the call opened, reports err and returns the exit
// status.
func (c *call) finish(err error) int {
	if c.store != nil {
		if cerr := c.store.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("closing the store: %w", cerr)
		}
	}
	if err == nil || errors.Is(err, errHelp) {
		return 0
	}
	if ue, ok := errors.AsType[*usageError](err); ok {
		fmt.Fprintf(c.stderr, "wharf %s: %s (run 'wharf %s -h' for usage)\n", c.name, ue.msg, c.name)
		return 2
	}
	if ce, ok := errors.AsType[*ConfigError](err); ok {
		for _, p := range ce.Problems {
			fmt.Fprintf(c.stderr, "wharf: config: %s\n", p)
		}
		return 1
	}
	for _, p := range problems(err) {
		fmt.Fprintf(c.stderr, "wharf: %s: %s\n", c.name, errorLine(p))
	}
	return 1
}

// parse parses the call's flags, which define registers (with --config
// always among them), and returns the positional arguments: at least min
// and at most max of them, named by names for messages. Flags and
// arguments may come in any order; after "--" everything is an argument.
func (c *call) parse(args []string, names []string, min int, define func(fs *flag.FlagSet)) ([]string, error) {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.configPath, "config", "", "the YAML configuration file")
	if define != nil {
		define(fs)
	}
	var pos []string
	for {
		err := fs.Parse(args)
		switch {
		case errors.Is(err, flag.ErrHelp):
			fmt.Fprint(c.stdout, c.help)
			return nil, errHelp
		case err != nil:
			return nil, &usageError{msg: err.Error()}
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		if len(rest) == 0 {
			break
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
	switch {
	case len(pos) < min:
		return nil, usagef("missing %s", strings.Join(names[len(pos):min], " and "))
	case len(pos) > len(names):
		return nil, usagef("unexpected argument %q", pos[len(names)])
	}
	for i, p := range pos {
		if p == "" {
			return nil, usagef("%s must not be empty", names[i])
		}
	}
	return pos, nil
}

// open loads the configuration and opens (and migrates) the store.
func (c *call) open() error {
	cfg, err := LoadConfig(c.configPath, c.environ)
	if err != nil {
		return err
	}
	c.cfg = cfg
	c.store, err = openStore(c.ctx, cfg)
	return err
}

// multiFlag is a flag that may be given several times.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

// passwordSource is the pair of flags --password-stdin and
// --password-file.
type passwordSource struct {
	stdin bool
	file  string
}

func (p *passwordSource) define(fs *flag.FlagSet) {
	fs.BoolVar(&p.stdin, "password-stdin", false, "read the password from the first line of stdin")
	fs.StringVar(&p.file, "password-file", "", "read the password from the first line of a file")
}

func (p *passwordSource) given() bool { return p.stdin || p.file != "" }

// check reports bad usage: both sources, or none when one is required.
func (p *passwordSource) check(required bool) error {
	switch {
	case p.stdin && p.file != "":
		return usagef("give --password-stdin or --password-file, not both")
	case required && !p.given():
		return usagef("give the password with --password-stdin or --password-file")
	}
	return nil
}

// read returns the password: the whole input without one trailing line
// break. A password of several lines or none is refused.
func (p *passwordSource) read(stdin io.Reader) (string, error) {
	var (
		data []byte
		err  error
		from string
	)
	if p.stdin {
		from = "stdin"
		if f, ok := stdin.(*os.File); ok {
			if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
				// Typed at a terminal, the password would be shown.
				return "", errors.New("--password-stdin reads a password piped in, and stdin is a terminal " +
					"(read -rs PW; printf '%s\\n' \"$PW\" | wharf …, or use --password-file)")
			}
		}
		data, err = io.ReadAll(io.LimitReader(stdin, 64<<10))
		if err != nil {
			return "", fmt.Errorf("password: reading stdin: %w", err)
		}
	} else {
		from = p.file
		data, err = readSmallFile(p.file, 64<<10)
		if err != nil {
			return "", fmt.Errorf("password: %w", err)
		}
	}
	pw := string(data)
	pw = strings.TrimSuffix(pw, "\n")
	pw = strings.TrimSuffix(pw, "\r")
	switch {
	case pw == "":
		return "", fmt.Errorf("password: empty (%s held no password)", from)
	case strings.ContainsAny(pw, "\r\n"):
		return "", fmt.Errorf("password: %s holds more than one line (give the password alone)", from)
	case len(pw) > auth.MaxPasswordLen:
		return "", fmt.Errorf("password: longer than %d bytes", auth.MaxPasswordLen)
	}
	return pw, nil
}

// hash reads the password and hashes it with the configured cost.
func (p *passwordSource) hash(c *call) (string, error) {
	pw, err := p.read(c.stdin)
	if err != nil {
		return "", err
	}
	return auth.HashPassword(pw, c.cfg.argon2())
}

// readSmallFile reads a file of at most limit bytes. Its errors name the
// file and say what went wrong in words, without Go's "open …:" chains.
func readSmallFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fileError(path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fileError(path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, limit)
	}
	return data, nil
}

func fileError(path string, err error) error {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%s: no such file", path)
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("%s: permission denied", path)
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %v", path, pe.Err)
	}
	return fmt.Errorf("%s: %v", path, err)
}

// readKeyFile reads SSH public keys in authorized_keys format, one a line;
// blank lines and # comments are skipped. A file with no key is an error.
func readKeyFile(path string) ([]auth.Key, error) {
	data, err := readSmallFile(path, 1<<20)
	if err != nil {
		return nil, fmt.Errorf("key file %w", err)
	}
	var keys []auth.Key
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := auth.ParseKey(line)
		if err != nil {
			return nil, fmt.Errorf("key file %s line %d: %v", path, n, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("key file %s holds no key (want authorized_keys lines such as \"ssh-ed25519 AAAA… comment\")", path)
	}
	return keys, nil
}

// readKeyFiles reads every file and drops keys given twice.
func readKeyFiles(paths []string) ([]auth.Key, error) {
	var keys []auth.Key
	for _, p := range paths {
		ks, err := readKeyFile(p)
		if err != nil {
			return nil, err
		}
		for _, k := range ks {
			if !hasKey(keys, k.Fingerprint) {
				keys = append(keys, k)
			}
		}
	}
	return keys, nil
}

func hasKey(keys []auth.Key, fingerprint string) bool {
	return slices.ContainsFunc(keys, func(k auth.Key) bool { return k.Fingerprint == fingerprint })
}

// table writes aligned columns.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cells ...string) { fmt.Fprintln(t.tw, strings.Join(cells, "\t")) }

func (t *table) flush() error { return t.tw.Flush() }

// writeJSON writes v as indented JSON and a line break.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// formatTime formats t for people: UTC to the second, "-" for zero.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// plural returns "1 key", "2 keys".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
