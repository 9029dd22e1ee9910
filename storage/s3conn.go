package storage

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Sending upload parts without copying them.
//
// net/http hands a request body of known length to the connection as an
// *io.LimitedReader, which a *net.TCPConn copies through a 32 KiB buffer:
// a copy of every byte and a write system call per 32 KiB. Part buffers
// can write themselves a chunk at a time (partReader.WriteTo), so on a
// connection that unwraps the limit an 8 MiB part is 8 writes straight from
// its chunks. Under TLS the records are encrypted from the bytes anyway;
// the wrapper only sees the ciphertext, passes it through, and changes
// nothing.

// bulkClient returns an HTTP client for upload requests: c's own settings
// (proxy, CA bundle, timeouts), on connections that send part buffers
// without a copy. It returns c itself when c is not the SDK's buildable
// client, whose settings could not be kept.
func bulkClient(c s3.HTTPClient) s3.HTTPClient {
	bc, ok := c.(*awshttp.BuildableClient)
	if !ok {
		return c
	}
	return bc.WithTransportOptions(func(tr *http.Transport) {
		dial := tr.DialContext
		if dial == nil {
			dial = (&net.Dialer{}).DialContext
		}
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return bulkConn{conn}, nil
		}
	})
}

// bulkConn is a connection whose ReadFrom lets a length-limited body that
// can write itself do so.
type bulkConn struct{ net.Conn }

// ReadFrom writes r to the connection. An *io.LimitedReader over an
// io.WriterTo is written by the WriterTo, cut at the limit; anything else
// is copied as the connection itself would.
func (c bulkConn) ReadFrom(r io.Reader) (int64, error) {
	if lr, ok := r.(*io.LimitedReader); ok {
		if wt, ok := lr.R.(io.WriterTo); ok {
			if lr.N <= 0 {
				return 0, nil
			}
			lw := &limitWriter{w: c.Conn, left: lr.N}
			n, err := wt.WriteTo(lw)
			lr.N -= n
			if errors.Is(err, errLimitReached) {
				err = nil
			}
			return n, err
		}
	}
	return io.Copy(c.Conn, r)
}

// errLimitReached stops a WriteTo once the body's length is written.
var errLimitReached = errors.New("storage: body length reached")

// limitWriter writes at most left bytes to w, then refuses with
// errLimitReached.
type limitWriter struct {
	w    io.Writer
	left int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, errLimitReached
	}
	cut := int64(len(p)) > l.left
	if cut {
		p = p[:l.left]
	}
	n, err := l.w.Write(p)
	l.left -= int64(n)
	if err == nil && cut {
		err = errLimitReached
	}
	return n, err
}
