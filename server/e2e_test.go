package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"
	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/wharf-gw/wharf/auth"
	"github.com/wharf-gw/wharf/internal/testlog"
)

// TestEndToEnd runs a whole node on the embedded default (every listener
// on loopback): a user created through the admin API logs in over FTP and
// SFTP at once and sees the same files; the sessions show in the API and
// a kicked one is gone; /readyz turns 503 the moment the node drains.
func TestEndToEnd(t *testing.T) {
	dir := t.TempDir()
	cfg, err := LoadConfig("", append([]string{"WHARF_DATA_DIR=" + dir, "WHARF_AUTH_ARGON2_MEMORY=8192",
		"WHARF_FTP_PASSIVE_PORTS=", "WHARF_NODE_ID=e2e-node",
		"WHARF_DEFENDER_DELAY=0s", "WHARF_DEFENDER_MAX_FAILURES=3"}, loopback...))
	if err != nil {
		t.Fatal(err)
	}
	var logs testlog.Buffer
	ctx := t.Context()
	s, err := New(ctx, cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			s.Shutdown(context.Background())
		}
	}()

	// An admin token, made the way 'wharf admin token create' does.
	if err := s.store.CreateAdmin(ctx, &auth.Admin{Name: "root"}); err != nil {
		t.Fatal(err)
	}
	secret, tok, err := auth.NewToken("root", "e2e", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.store.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	api := "http://" + s.fronts.adminLn.Addr().String()
	call := func(method, path, body string, want int) []byte {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, method, api+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+secret)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, b, want)
		}
		return b
	}
	call("GET", "/readyz", "", 200)
	// The node recorded itself in the shared store at start.
	var nodes struct {
		Nodes []auth.Node `json:"nodes"`
	}
	if err := json.Unmarshal(call("GET", "/api/v1/nodes", "", 200), &nodes); err != nil || len(nodes.Nodes) != 1 ||
		nodes.Nodes[0].ID != "e2e-node" || !nodes.Nodes[0].Ready {
		t.Fatalf("nodes: %+v %v", nodes, err)
	}
	call("POST", "/api/v1/users", `{"name":"bob","password":"s3cret pw","mounts":[]}`, 201)

	// SFTP upload.
	sc, err := ssh.Dial("tcp", s.fronts.sftpLn.Addr().String(), &ssh.ClientConfig{
		User: "bob", Auth: []ssh.AuthMethod{ssh.Password("s3cret pw")},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	sf, err := sftp.NewClient(sc)
	if err != nil {
		t.Fatal(err)
	}
	defer sf.Close()
	f, err := sf.Create("/hello.txt")
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("hello from sftp"))
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	// FTP, at the same time, sees it and writes another.
	fc, err := ftp.Dial(s.fronts.ftp.Addr(), ftp.DialWithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer fc.Quit()
	if err := fc.Login("bob", "s3cret pw"); err != nil {
		t.Fatal(err)
	}
	r, err := fc.Retr("/hello.txt")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	r.Close()
	if string(got) != "hello from sftp" {
		t.Fatalf("over FTP: %q", got)
	}
	if err := fc.Stor("/from-ftp.txt", bytes.NewReader([]byte("hello from ftp"))); err != nil {
		t.Fatal(err)
	}
	rf, err := sf.Open("/from-ftp.txt")
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(rf)
	rf.Close()
	if string(got) != "hello from ftp" {
		t.Fatalf("over SFTP: %q", got)
	}

	// Both sessions are listed; kicking the SFTP one ends it.
	var list struct{ Sessions []auth.SessionInfo }
	if err := json.Unmarshal(call("GET", "/api/v1/sessions", "", 200), &list); err != nil {
		t.Fatal(err)
	}
	sessions := list.Sessions
	var sftpID uint64
	protocols := map[string]bool{}
	for _, se := range sessions {
		protocols[se.Protocol] = se.User == "bob"
		if se.Protocol == "sftp" {
			sftpID = se.ID
		}
	}
	if !protocols["ftp"] || !protocols["sftp"] {
		t.Fatalf("sessions: %+v", sessions)
	}
	call("DELETE", "/api/v1/sessions/"+itoa(sftpID), "", 204)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := sf.Stat("/hello.txt"); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the kicked SFTP session still answers")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// The metrics counted the logins and transfers of both protocols.
	metrics := string(call("GET", "/metrics", "", 200))
	for _, want := range []string{
		`wharf_logins_total{protocol="sftp",result="ok"} 1`,
		`wharf_logins_total{protocol="ftp",result="ok"} 1`,
		`wharf_transfers_total{direction="upload",protocol="sftp"} 1`,
		`wharf_transfers_total{direction="download",protocol="ftp"} 1`,
		`wharf_transfer_bytes_total{direction="upload",protocol="ftp"} 14`,
		`wharf_sessions{protocol="ftp"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// Disabling the user ends their FTP session here.
	call("POST", "/api/v1/users/bob/disable", "", 200)
	deadline = time.Now().Add(10 * time.Second)
	for fc.NoOp() == nil {
		if time.Now().After(deadline) {
			t.Fatal("the disabled user's FTP session still answers")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Guessing bans the address on every protocol; lifting the ban
	// through the API lets it in again.
	call("POST", "/api/v1/users", `{"name":"carol","password":"right"}`, 201)
	ftpLogin := func(pw string) error {
		c, err := ftp.Dial(s.fronts.ftp.Addr(), ftp.DialWithTimeout(10*time.Second))
		if err != nil {
			return err
		}
		defer c.Quit()
		return c.Login("carol", pw)
	}
	for range 3 {
		if err := ftpLogin("wrong"); err == nil {
			t.Fatal("a wrong password logged in")
		}
	}
	if err := ftpLogin("right"); err == nil {
		t.Fatal("a banned address logged in over FTP")
	}
	if _, err := ssh.Dial("tcp", s.fronts.sftpLn.Addr().String(), &ssh.ClientConfig{User: "carol",
		Auth: []ssh.AuthMethod{ssh.Password("right")}, HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second}); err == nil {
		t.Fatal("a banned address logged in over SFTP")
	}
	call("DELETE", "/api/v1/bans/addr/127.0.0.1", "", 204)
	if err := ftpLogin("right"); err != nil {
		t.Fatalf("after the ban was lifted: %v", err)
	}

	// Draining: /readyz says 503 at once; the node stops.
	go func() { s.fronts.registry.Drain(context.Background()) }()
	deadline = time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(api + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusServiceUnavailable {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("/readyz did not turn 503 while draining")
		}
		time.Sleep(10 * time.Millisecond)
	}
	stopped = true
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	// Its last heartbeat says it is draining and not ready.
	store, err := auth.OpenStore(context.Background(), auth.StoreConfig{Driver: "sqlite", DSN: cfg.Store.DSN})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	last, err := store.ListNodes(context.Background())
	if err != nil || len(last) != 1 || last[0].Ready || !last[0].Draining {
		t.Fatalf("after shutdown: %+v %v", last, err)
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }
