//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package ftp

import (
	"errors"
	"net"
	"syscall"
)

// peekClosed reports whether the peer of c has closed (FIN) or reset the
// connection. It peeks without blocking and without consuming data, and
// without the read lock: a read may be pending on c in another goroutine.
// A connection with unread data, or any doubt, counts as open.
func peekClosed(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	closed := false
	err = rc.Control(func(fd uintptr) {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		closed = (n == 0 && err == nil) || errors.Is(err, syscall.ECONNRESET)
	})
	return err == nil && closed
}
