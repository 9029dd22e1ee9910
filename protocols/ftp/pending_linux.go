package ftp

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// pendingBytes returns how many received bytes wait in the socket behind
// rc: a read of that many cannot block.
func pendingBytes(rc syscall.RawConn) int {
	n := 0
	_ = rc.Control(func(fd uintptr) {
		v, err := unix.IoctlGetInt(int(fd), unix.SIOCINQ)
		if err == nil {
			n = v
		}
	})
	return n
}

// unackedBytes returns how many bytes written to the socket behind rc the
// peer has not acknowledged yet (sent or not).
func unackedBytes(rc syscall.RawConn) int {
	n := -1
	_ = rc.Control(func(fd uintptr) {
		v, err := unix.IoctlGetInt(int(fd), unix.SIOCOUTQ)
		if err == nil {
			n = v
		}
	})
	return n
}
