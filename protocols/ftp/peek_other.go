//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package ftp

import "net"

// peekClosed cannot look at the socket on this platform: uploads rely on
// the control connection's reader alone.
func peekClosed(net.Conn) bool { return false }
