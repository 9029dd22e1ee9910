package ftp_test

import (
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkRETR measures a 256 MiB RETR from the local disk over loopback:
// throughput, and the write system calls the process made per RETR
// (nearly all of them the server's writes to the data connection):
//
//	go test ./protocols/ftp -run '^$' -bench RETR -benchtime 5x
func BenchmarkRETR(b *testing.B) {
	const size = 256 << 20
	e := newEnv(b, options{})
	e.put(homePrefix+"big.bin", randomBytes(size))
	r := e.dialLogin()
	b.SetBytes(size)
	writes := 0
	b.ResetTimer()
	for range b.N {
		d := r.epsv()
		w0 := procWrites(b)
		r.expect("RETR /big.bin", 150)
		n, err := io.Copy(io.Discard, d)
		if err != nil || n != size {
			b.Fatalf("RETR: %d bytes, %v", n, err)
		}
		r.want(226)
		writes += procWrites(b) - w0
	}
	b.ReportMetric(float64(writes)/float64(b.N), "writes/op")
}

// procWrites returns the write system calls this process has made.
func procWrites(tb testing.TB) int {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		tb.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "syscw: "); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	tb.Fatal("no syscw in /proc/self/io")
	return 0
}
