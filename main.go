// Command wharf is a multi-protocol (FTP, FTPS, SFTP) file gateway over
// object storage. It parses the command line and hands over to package
// server; see README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/wharf-gw/wharf/internal/gctune"
	"github.com/wharf-gw/wharf/server"
)

// version is set at build time: go build -ldflags "-X main.version=v1.2.3".
var version = "dev"

const usage = `wharf: a multi-protocol (FTP, FTPS, SFTP) file gateway over object storage

Usage:
  wharf serve [--config FILE]          run a node (see 'wharf serve -h')
  wharf user SUBCOMMAND [--config F]   add, list, show, change and remove users
                                       (see 'wharf user -h')
  wharf admin SUBCOMMAND [--config F]  manage admins and their API tokens
                                       (see 'wharf admin -h')
  wharf migrate [--config FILE]        bring the store's schema up to date
  wharf hostkeys [--config FILE]       print the SSH host keys' fingerprints
  wharf version                        print the version
  wharf help [COMMAND]                 print this help, or a command's
`

const serveUsage = `Usage: wharf serve [--config FILE]

Runs a wharf node until SIGINT or SIGTERM. Without --config it runs the
embedded default: data under ./wharf-data, files in ./wharf-data/files,
users in the SQLite database ./wharf-data/wharf.db (add them with
'wharf user add').
Every configuration key can also be set from the environment:
log.format is WHARF_LOG_FORMAT, backends.NAME.url is WHARF_BACKENDS_NAME_URL.

Options:
  --config FILE   the YAML configuration file
`

const versionUsage = "Usage: wharf version\n"

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

// run executes the command line args and returns the exit status: 0 on
// success, 1 when the command failed, 2 for bad usage.
func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "wharf: no command given (run 'wharf help' for the list)")
		return 2
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		return serve(ctx, rest, environ, stdout, stderr)
	case "user":
		return server.UserCommand(ctx, rest, environ, os.Stdin, stdout, stderr)
	case "admin":
		return server.AdminCommand(ctx, rest, environ, os.Stdin, stdout, stderr)
	case "migrate":
		return server.MigrateCommand(ctx, rest, environ, os.Stdin, stdout, stderr)
	case "hostkeys":
		return server.HostKeysCommand(ctx, rest, environ, os.Stdin, stdout, stderr)
	case "version":
		if code, done := parseFlags("version", rest, versionUsage, stdout, stderr); done {
			return code
		}
		fmt.Fprintln(stdout, versionString())
		return 0
	case "help", "-h", "-help", "--help":
		if len(rest) == 0 {
			fmt.Fprint(stdout, usage)
			return 0
		}
		switch rest[0] {
		case "serve":
			fmt.Fprint(stdout, serveUsage)
			return 0
		case "user", "admin", "migrate", "hostkeys":
			return run(ctx, []string{rest[0], "-h"}, environ, stdout, stderr)
		case "version":
			fmt.Fprint(stdout, versionUsage)
			return 0
		}
		fmt.Fprintf(stderr, "wharf help: unknown command %q (run 'wharf help' for the list)\n", rest[0])
		return 2
	default:
		fmt.Fprintf(stderr, "wharf: unknown command %q (run 'wharf help' for the list)\n", cmd)
		return 2
	}
}

// parseFlags parses a subcommand's flags (none beyond those registered on
// the returned set) and no arguments. done is true when the command must
// stop with code: help was asked for (0) or the usage was bad (2).
func parseFlags(name string, args []string, help string, stdout, stderr io.Writer, define ...func(*flag.FlagSet)) (code int, done bool) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, d := range define {
		d(fs)
	}
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, help)
		return 0, true
	case err != nil:
		fmt.Fprintf(stderr, "wharf %s: %v (run 'wharf %s -h' for usage)\n", name, err, name)
		return 2, true
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "wharf %s: unexpected argument %q (run 'wharf %s -h' for usage)\n", name, fs.Arg(0), name)
		return 2, true
	}
	return 0, false
}

func serve(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	var configPath string
	if code, done := parseFlags("serve", args, serveUsage, stdout, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&configPath, "config", "", "the YAML configuration file")
	}); done {
		return code
	}
	cfg, err := server.LoadConfig(configPath, environ)
	if err != nil {
		printError(stderr, err)
		return 1
	}
	logger := server.NewLogger(stderr, cfg.Log)

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal the default action returns: a second Ctrl-C
	// ends a shutdown that hangs.
	context.AfterFunc(ctx, stop)

	defer tuneGC(environ)()
	cfg.Version = version
	if err := server.Run(ctx, cfg, logger); err != nil {
		printError(stderr, err)
		return 1
	}
	return 0
}

// gcHeadroom is the garbage a serving process lets accumulate between
// collections, unless GOGC is set (see internal/gctune). Measured with
// bench/sftp/compare.sh (S3, 1 GiB uploads, 3 rounds each), 12 MiB kept
// the peak RSS of an SFTP upload at 87–88 MiB against 91–99 MiB for
// 16 MiB, at the same rate and CPU (bench/sftp/run.sh, the highest of six
// uploads, still saw 94 MiB); GODEBUG=gctrace=1 counted about 240
// collections per GiB uploaded, 2 % of the CPU.
const gcHeadroom = 12 << 20

// tuneGC starts the GC tuner when the environment does not set GOGC; the
// returned function stops it.
func tuneGC(environ []string) func() {
	for _, kv := range environ {
		if strings.HasPrefix(kv, "GOGC=") {
			return func() {}
		}
	}
	return gctune.Start(gcHeadroom).Stop
}

// printError writes err to w, one line per configuration problem.
func printError(w io.Writer, err error) {
	if ce, ok := errors.AsType[*server.ConfigError](err); ok {
		for _, p := range ce.Problems {
			fmt.Fprintf(w, "wharf: config: %s\n", p)
		}
		return
	}
	for line := range strings.Lines(err.Error()) {
		fmt.Fprintf(w, "wharf: %s", line)
	}
	fmt.Fprintln(w)
}

// versionString describes this build: the version, the commit when the
// binary was built from a VCS checkout, and the Go toolchain.
func versionString() string {
	v := version
	var vcs []string
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version // go install github.com/wharf-gw/wharf@vX
		}
		var modified bool
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				vcs = append([]string{"commit " + s.Value}, vcs...)
			case "vcs.time":
				vcs = append(vcs, s.Value)
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if modified {
			vcs = append(vcs, "modified")
		}
	}
	out := "wharf " + v
	if len(vcs) > 0 {
		out += " (" + strings.Join(vcs, ", ") + ")"
	}
	return fmt.Sprintf("%s %s %s/%s", out, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
