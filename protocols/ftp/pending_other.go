//go:build !linux

package ftp

import "syscall"

// pendingBytes is unknown here: uploads are read, never spliced.
func pendingBytes(syscall.RawConn) int { return 0 }

// unackedBytes is unknown here: a blocked write counts only the bytes the
// kernel takes as progress.
func unackedBytes(syscall.RawConn) int { return -1 }
