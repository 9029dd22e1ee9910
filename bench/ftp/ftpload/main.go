// Command ftpload is the FTP client of the FTP benchmark (jlaffaye/ftp,
// passive mode, binary). It uploads a file, downloads a file hashing it as
// it arrives, or runs many concurrent downloads and reports the server's
// peak memory.
//
//	ftpload -addr HOST:PORT -user U put FILE NAME
//	ftpload -addr HOST:PORT -user U get NAME
//	ftpload -addr HOST:PORT -user U -n 50 -want SHA256 [-pid PID] [-login-concurrency K] many NAME
//
// The password comes from FTP_PASS. put and get print one line:
// bytes=N secs=S mibps=R sha256=HEX (put prints sha256=-: the caller
// hashes the stored file). many logs n clients in (all at once unless
// -login-concurrency says otherwise), then starts every download at the
// same moment and prints clients=, ok=, bytes=, secs= (first download
// started to last one finished), mibps= and, with -pid, the server's peak
// RSS while logging in (login_hwm_kib=) and while downloading
// (xfer_hwm_kib=), read from /proc/PID/status (VmHWM, reset in between
// through /proc/PID/clear_refs).
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jlaffaye/ftp"
)

type config struct {
	addr, user, pass string
}

func main() {
	var cfg config
	flag.StringVar(&cfg.addr, "addr", "127.0.0.1:2121", "server address")
	flag.StringVar(&cfg.user, "user", "bench", "user name")
	n := flag.Int("n", 50, "clients (many)")
	want := flag.String("want", "", "expected sha256 of every download (many)")
	pid := flag.Int("pid", 0, "server process whose peak RSS to report (many)")
	logins := flag.Int("login-concurrency", 0, "logins at once (many; 0: all)")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: ftpload [flags] put FILE NAME | get NAME | many NAME\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	cfg.pass = os.Getenv("FTP_PASS")
	args := flag.Args()
	var err error
	switch {
	case len(args) == 3 && args[0] == "put":
		err = put(cfg, args[1], args[2])
	case len(args) == 2 && args[0] == "get":
		err = get(cfg, args[1])
	case len(args) == 2 && args[0] == "many":
		err = many(cfg, args[1], *n, *logins, *want, *pid)
	default:
		flag.Usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ftpload:", err)
		os.Exit(1)
	}
}

func login(cfg config) (*ftp.ServerConn, error) {
	c, err := ftp.Dial(cfg.addr, ftp.DialWithTimeout(30*time.Second))
	if err != nil {
		return nil, err
	}
	if err := c.Login(cfg.user, cfg.pass); err != nil {
		c.Quit()
		return nil, fmt.Errorf("login: %w", err)
	}
	return c, nil
}

func report(n int64, d time.Duration, hash string) {
	fmt.Printf("bytes=%d secs=%.3f mibps=%.1f sha256=%s\n", n, d.Seconds(), float64(n)/(1<<20)/d.Seconds(), hash)
}

// put uploads FILE; the library copies it to the data connection with
// io.Copy, which is sendfile(2) on Linux. The time includes the server's
// final reply, that is, the commit.
func put(cfg config, file, name string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	c, err := login(cfg)
	if err != nil {
		return err
	}
	defer c.Quit()
	start := time.Now()
	if err := c.Stor(name, f); err != nil {
		return fmt.Errorf("STOR %s: %w", name, err)
	}
	report(fi.Size(), time.Since(start), "-")
	return nil
}

func get(cfg config, name string) error {
	c, err := login(cfg)
	if err != nil {
		return err
	}
	defer c.Quit()
	start := time.Now()
	n, sum, err := retr(c, name)
	if err != nil {
		return err
	}
	report(n, time.Since(start), sum)
	return nil
}

// retr downloads name into a hash, including the final reply.
func retr(c *ftp.ServerConn, name string) (int64, string, error) {
	r, err := c.Retr(name)
	if err != nil {
		return 0, "", fmt.Errorf("RETR %s: %w", name, err)
	}
	h := sha256.New()
	n, err := io.CopyBuffer(h, r, make([]byte, 256<<10))
	if cerr := r.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return n, "", fmt.Errorf("RETR %s: %w", name, err)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// many logs n clients in (logins at a time), then downloads name on all of them
// at once and checks every hash.
func many(cfg config, name string, n, logins int, want string, pid int) error {
	if want == "" {
		return errors.New("many needs -want")
	}
	conns := make([]*ftp.ServerConn, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	if logins <= 0 {
		logins = n
	}
	sem := make(chan struct{}, logins)
	loginStart := time.Now()
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			conns[i], errs[i] = login(cfg)
		})
	}
	wg.Wait()
	loginSecs := time.Since(loginStart).Seconds()
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Quit()
			}
		}
	}()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	var loginHWM int64
	if pid > 0 {
		var err error
		if loginHWM, err = hwm(pid); err != nil {
			return err
		}
		if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
			return fmt.Errorf("resetting peak RSS: %w", err)
		}
	}
	sizes := make([]int64, n)
	gate := make(chan struct{})
	for i, c := range conns {
		wg.Go(func() {
			<-gate
			var sum string
			sizes[i], sum, errs[i] = retr(c, name)
			if errs[i] == nil && sum != want {
				errs[i] = fmt.Errorf("client %d: sha256 %s, want %s", i, sum, want)
			}
		})
	}
	start := time.Now()
	close(gate)
	wg.Wait()
	d := time.Since(start)
	ok, total := 0, int64(0)
	for i := range n {
		if errs[i] == nil {
			ok++
		}
		total += sizes[i]
	}
	line := fmt.Sprintf("clients=%d ok=%d bytes=%d secs=%.3f mibps=%.1f login_secs=%.3f", n, ok, total, d.Seconds(), float64(total)/(1<<20)/d.Seconds(), loginSecs)
	if pid > 0 {
		xferHWM, err := hwm(pid)
		if err != nil {
			return err
		}
		line += fmt.Sprintf(" login_hwm_kib=%d xfer_hwm_kib=%d", loginHWM, xferHWM)
	}
	fmt.Println(line)
	return errors.Join(errs...)
}

// hwm returns VmHWM of pid in KiB.
func hwm(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}
