package ftp_test

import (
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRETRThroughput measures a 256 MiB RETR from the local disk over
// loopback: throughput, and the write system calls the process made
// (nearly all of them the server's writes to the data connection). It runs
// only when WHARF_FTP_THROUGHPUT is set.
func TestRETRThroughput(t *testing.T) {
	if os.Getenv("WHARF_FTP_THROUGHPUT") == "" {
		t.Skip("set WHARF_FTP_THROUGHPUT=1 to measure")
	}
	const size = 256 << 20
	e := newEnv(t, options{})
	e.put(homePrefix+"big.bin", randomBytes(size))
	r := e.dialLogin()
	var rates []float64
	var writes []int
	for range 5 {
		d := r.epsv()
		w0 := procWrites(t)
		start := time.Now()
		r.expect("RETR /big.bin", 150)
		n, err := io.Copy(io.Discard, d)
		if err != nil || n != size {
			t.Fatalf("RETR: %d bytes, %v", n, err)
		}
		r.want(226)
		rates = append(rates, float64(size)/time.Since(start).Seconds()/(1<<20))
		writes = append(writes, procWrites(t)-w0)
	}
	slices.Sort(rates)
	slices.Sort(writes)
	t.Logf("256 MiB RETR: median %.0f MiB/s (%.0f–%.0f), median %d write calls", rates[2], rates[0], rates[4], writes[2])
}

// procWrites returns the write system calls this process has made.
func procWrites(t *testing.T) int {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "syscw: "); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	t.Fatal("no syscw in /proc/self/io")
	return 0
}
