package storage

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"testing"
	"testing/iotest"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// countingConn counts the writes that reach a real connection.
type countingConn struct {
	net.Conn
	writes int
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes++
	return c.Conn.Write(p)
}

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// A body handed to the connection as net/http does (an *io.LimitedReader)
// arrives exactly: cut at the limit, short when the body is, and a part
// buffer is written a chunk per write instead of 32 KiB at a time.
func TestBulkConnReadFrom(t *testing.T) {
	t.Parallel()
	data := make([]byte, 5*chunkSize/2)
	for i := range data {
		data[i] = byte(rand.Uint32())
	}
	part := func() io.Reader {
		pb := &partBuf{budget: NewBudget(4 * chunkSize), size: 4 * chunkSize}
		pb.chunks = pb.budget
		if _, err := pb.fill(context.Background(), data); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pb.free)
		return pb.reader()
	}
	tests := []struct {
		name      string
		body      func() io.Reader
		limit     int64 // < 0: not limited
		want      int   // bytes that arrive
		left      int64 // the limit left afterwards
		maxWrites int   // 0: not checked
	}{
		{"part, exact length", part, int64(len(data)), len(data), 0, 3},
		{"part, cut at the limit", part, chunkSize + 10, chunkSize + 10, 0, 2},
		{"part, body shorter than the limit", part, int64(len(data)) + 7, len(data), 7, 3},
		{"part, zero limit", part, 0, 0, 0, 0},
		{"writer-to, cut", func() io.Reader { return bytes.NewReader(data) }, 1000, 1000, 0, 1},
		{"plain reader, limited", func() io.Reader { return iotest.HalfReader(bytes.NewReader(data)) }, 70000, 70000, 0, 0},
		{"plain reader, not limited", func() io.Reader { return iotest.HalfReader(bytes.NewReader(data)) }, -1, len(data), 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			client, server := tcpPair(t)
			cc := &countingConn{Conn: client}
			got := make(chan []byte, 1)
			go func() {
				b, _ := io.ReadAll(server)
				got <- b
			}()
			body := tc.body()
			var r io.Reader = body
			var lr *io.LimitedReader
			if tc.limit >= 0 {
				lr = &io.LimitedReader{R: body, N: tc.limit}
				r = lr
			}
			n, err := bulkConn{cc}.ReadFrom(r)
			if err != nil {
				t.Fatalf("ReadFrom: %v", err)
			}
			client.Close()
			b := <-got
			if n != int64(tc.want) || len(b) != tc.want || !bytes.Equal(b, data[:tc.want]) {
				t.Fatalf("sent %d, received %d bytes (equal to the source: %v), want %d", n, len(b), bytes.Equal(b, data[:len(b)]), tc.want)
			}
			if lr != nil && lr.N != tc.left {
				t.Errorf("limit left %d, want %d", lr.N, tc.left)
			}
			if tc.maxWrites > 0 && cc.writes > tc.maxWrites {
				t.Errorf("%d writes, want at most %d", cc.writes, tc.maxWrites)
			}
			// The source is left just after what was sent.
			rest, _ := io.ReadAll(body)
			if len(rest) != len(data)-tc.want {
				t.Errorf("source has %d bytes left, want %d", len(rest), len(data)-tc.want)
			}
		})
	}
}

// The bulk client keeps the SDK client's settings and dials bulkConns;
// a client that is not the SDK's own is used as it is.
func TestBulkClient(t *testing.T) {
	t.Parallel()
	base := awshttp.NewBuildableClient().WithTimeout(42 * time.Second)
	bc, ok := bulkClient(base).(*awshttp.BuildableClient)
	if !ok {
		t.Fatal("bulk client is not a buildable client")
	}
	if bc.GetTimeout() != 42*time.Second {
		t.Errorf("timeout %v, want the base client's 42s", bc.GetTimeout())
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	conn, err := bc.GetTransport().DialContext(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, ok := conn.(bulkConn); !ok {
		t.Errorf("dialled %T, want bulkConn", conn)
	}
	other := &http.Client{}
	if got := bulkClient(other); got != other {
		t.Errorf("bulkClient(%T) = %T, want it unchanged", other, got)
	}
}
