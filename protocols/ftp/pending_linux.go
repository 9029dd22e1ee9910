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
