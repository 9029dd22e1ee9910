package server

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// validateFrontEnds checks the ftp, sftp, admin, limits and shutdown keys.
func (c *Config) validateFrontEnds() []string {
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	addr := func(key, v string) {
		if v == "" {
			return
		}
		if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
			add("%s: %q is not a listen address (want HOST:PORT or :PORT)", key, v)
		}
	}
	addr("ftp.listen", c.FTP.Listen)
	addr("ftp.implicit_tls_listen", c.FTP.ImplicitTLSListen)
	addr("sftp.listen", c.SFTP.Listen)
	addr("admin.listen", c.Admin.Listen)
	if _, err := c.FTP.passivePorts(); err != nil {
		add("ftp.passive_ports: %v", err)
	}
	if c.FTP.PublicIP != "" {
		if a, err := netip.ParseAddr(c.FTP.PublicIP); err != nil || !a.Is4() {
			add("ftp.public_ip: %q is not an IPv4 address", c.FTP.PublicIP)
		}
	}
	if (c.FTP.CertFile == "") != (c.FTP.KeyFile == "") {
		add("ftp.cert_file, ftp.key_file: give both or neither")
	}
	if (c.Admin.CertFile == "") != (c.Admin.KeyFile == "") {
		add("admin.cert_file, admin.key_file: give both or neither")
	}
	for _, d := range []struct {
		key string
		v   Duration
	}{{"ftp.idle_timeout", c.FTP.IdleTimeout}, {"ftp.upload_settle", c.FTP.UploadSettle},
		{"ftp.login_timeout", c.FTP.LoginTimeout}, {"ftp.data_timeout", c.FTP.DataTimeout},
		{"sftp.idle_timeout", c.SFTP.IdleTimeout},
		{"sftp.handshake_timeout", c.SFTP.HandshakeTimeout}, {"sftp.auth_timeout", c.SFTP.AuthTimeout},
		{"admin.login_ttl", c.Admin.LoginTTL}, {"shutdown.grace", c.Shutdown.Grace}} {
		if d.v < 0 {
			add("%s: must not be negative (got %s)", d.key, d.v)
		}
	}
	if c.SFTP.MaxAuthTries < 1 {
		add("sftp.max_auth_tries: must be at least 1 (got %d)", c.SFTP.MaxAuthTries)
	}
	for _, z := range []struct {
		key    string
		v, min Size
	}{{"sftp.write_window", c.SFTP.WriteWindow, 256 * KiB}, {"sftp.read_window", c.SFTP.ReadWindow, 512 * KiB},
		{"sftp.max_spill", c.SFTP.MaxSpill, 0}, {"sftp.window_budget", c.SFTP.WindowBudget, 16 * MiB}} {
		if z.v < z.min {
			add("%s: must be at least %s (got %s)", z.key, z.min, z.v)
		}
	}
	if c.Node.Heartbeat < Duration(time.Second) {
		add("node.heartbeat: must be at least 1s (got %s)", c.Node.Heartbeat)
	}
	if c.Limits.MaxSessions < 0 {
		add("limits.max_sessions: must not be negative (got %d)", c.Limits.MaxSessions)
	}
	if c.Limits.MaxSessionsPerAddress < 0 {
		add("limits.max_sessions_per_address: must not be negative (got %d)", c.Limits.MaxSessionsPerAddress)
	}
	return p
}

// passivePorts parses "first-last" ("" for ports the system chooses).
func (f FTPConfig) passivePorts() ([2]int, error) {
	if f.PassivePorts == "" {
		return [2]int{}, nil
	}
	a, b, ok := strings.Cut(f.PassivePorts, "-")
	lo, err1 := strconv.Atoi(strings.TrimSpace(a))
	hi, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || lo < 1024 || hi < lo || hi > 65535 {
		return [2]int{}, fmt.Errorf("%q: want FIRST-LAST with 1024 <= FIRST <= LAST <= 65535", f.PassivePorts)
	}
	return [2]int{lo, hi}, nil
}
