package auth

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// TestSecretRaceProcesses races two processes, as two nodes starting at
// once would, to create the same secrets in an empty database: both
// migrate it, then both put every secret. Exactly one creates each and
// both see the same value.
func TestSecretRaceProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	ForEachDB(t, func(t *testing.T, fresh FreshDB) {
		cfg := fresh(t)
		const names = 50
		type result struct {
			created bool
			value   string
		}
		var (
			cmds    [2]*exec.Cmd
			stdins  [2]io.WriteCloser
			outs    [2]*bufio.Scanner
			stderrs [2]bytes.Buffer
			results [2]map[string]result
		)
		for i := range cmds {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcessSecretRace$", "-test.count=1")
			cmd.Env = append(os.Environ(),
				"WHARF_TEST_HELPER=secret-race",
				"WHARF_TEST_HELPER_DRIVER="+cfg.Driver,
				"WHARF_TEST_HELPER_DSN="+cfg.DSN,
				"WHARF_TEST_HELPER_NAMES="+strconv.Itoa(names),
				"WHARF_TEST_HELPER_NODE="+strconv.Itoa(i))
			cmd.Stderr = &stderrs[i]
			var err error
			if stdins[i], err = cmd.StdinPipe(); err != nil {
				t.Fatal(err)
			}
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			outs[i] = bufio.NewScanner(stdout)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			cmds[i] = cmd
			t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		}
		// Both have opened (and so migrated) the store; release them
		// together.
		for i, out := range outs {
			if !out.Scan() || out.Text() != "ready" {
				var rest strings.Builder
				for rest.WriteString(out.Text() + "\n"); out.Scan(); {
					rest.WriteString(out.Text() + "\n")
				}
				t.Fatalf("helper %d did not start:\n%s%s", i, rest.String(), stderrs[i].String())
			}
		}
		for _, in := range stdins {
			in.Close()
		}
		for i, out := range outs {
			results[i] = map[string]result{}
			for out.Scan() {
				f := strings.Fields(out.Text())
				if len(f) != 4 || f[0] != "secret" {
					continue // the test framework's own lines
				}
				results[i][f[1]] = result{created: f[2] == "true", value: f[3]}
			}
			if err := cmds[i].Wait(); err != nil {
				t.Fatalf("helper %d: %v\n%s", i, err, stderrs[i].String())
			}
		}
		creators := [2]int{}
		for n := range names {
			name := fmt.Sprintf("ssh-host-key-ed25519-%d", n)
			a, aok := results[0][name]
			b, bok := results[1][name]
			if !aok || !bok {
				t.Fatalf("%s: a helper did not report it", name)
			}
			if a.created == b.created {
				t.Fatalf("%s: created %v and %v: want exactly one creator", name, a.created, b.created)
			}
			if a.value != b.value {
				t.Fatalf("%s: the processes got %s and %s", name, a.value, b.value)
			}
			if a.created {
				creators[0]++
			} else {
				creators[1]++
			}
		}
		t.Logf("creators: process 0 won %d, process 1 won %d of %d", creators[0], creators[1], names)
		// The schema was migrated once.
		s := openStore(t, cfg)
		var versions int
		must(t, s.db.QueryRow(`SELECT count(*) FROM schema_migrations`).Scan(&versions))
		if latest := len(mustFiles(t, s.d.name)); versions != latest {
			t.Fatalf("schema_migrations has %d rows, want %d", versions, latest)
		}
	})
}

// TestHelperProcessSecretRace is one of TestSecretRaceProcesses' racing
// processes; it does nothing in an ordinary run.
func TestHelperProcessSecretRace(t *testing.T) {
	if os.Getenv("WHARF_TEST_HELPER") != "secret-race" {
		return
	}
	cfg := StoreConfig{Driver: os.Getenv("WHARF_TEST_HELPER_DRIVER"), DSN: os.Getenv("WHARF_TEST_HELPER_DSN")}
	names, _ := strconv.Atoi(os.Getenv("WHARF_TEST_HELPER_NAMES"))
	node := os.Getenv("WHARF_TEST_HELPER_NODE")
	s, err := OpenStore(bg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin) // wait for the go
	for n := range names {
		name := fmt.Sprintf("ssh-host-key-ed25519-%d", n)
		value := []byte(fmt.Sprintf("key %d of process %s (pid %d)", n, node, os.Getpid()))
		got, created, err := s.PutSecretIfAbsent(bg, name, value)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("secret %s %v %x\n", name, created, got)
	}
}
