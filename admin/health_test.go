package admin_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wharf-gw/wharf/admin"
	"github.com/wharf-gw/wharf/auth"
)

type readyBody struct {
	Ready    bool                `json:"ready"`
	Draining bool                `json:"draining"`
	Failed   []string            `json:"failed"`
	Checks   []admin.CheckResult `json:"checks"`
}

func TestHealthz(t *testing.T) {
	e := newEnv(t)
	e.backend.set(errors.New("down")) // liveness does not care
	e.do("GET", "/healthz", nil, "Authorization", "").want(t, 200)
}

func TestReadyz(t *testing.T) {
	e := newEnv(t, func(o *envOptions) { o.cfg.CheckTimeout = 200 * time.Millisecond })
	var rb readyBody
	e.do("GET", "/readyz", nil, "Authorization", "").want(t, 200).json(t, &rb)
	if !rb.Ready || len(rb.Checks) != 2 || len(rb.Failed) != 0 {
		t.Errorf("ready: %+v", rb)
	}

	// Results are cached: the backend failing is seen once the cache ages.
	calls := e.backend.calls.Load()
	e.backend.set(errors.New("dial tcp 10.0.0.1:9000: connection refused"))
	e.do("GET", "/readyz", nil, "Authorization", "").want(t, 200)
	if n := e.backend.calls.Load(); n != calls {
		t.Errorf("the check ran %d times more within the cache time", n-calls)
	}
	e.clock.Advance(2 * time.Second)
	a := e.do("GET", "/readyz", nil, "Authorization", "").want(t, 503)
	a.json(t, &rb)
	if rb.Ready || !slices.Equal(rb.Failed, []string{"backend local"}) {
		t.Errorf("backend down: %+v", rb)
	}
	if strings.Contains(string(a.body), "10.0.0.1") {
		t.Errorf("public /readyz shows the error: %s", a.body)
	}
	// The authenticated backend list has it.
	var bl struct {
		Backends []struct {
			Name  string             `json:"name"`
			Check *admin.CheckResult `json:"check"`
		} `json:"backends"`
	}
	e.do("GET", "/api/v1/backends", nil).want(t, 200).json(t, &bl)
	if len(bl.Backends) != 1 || bl.Backends[0].Name != "local" || bl.Backends[0].Check == nil ||
		bl.Backends[0].Check.OK || !strings.Contains(bl.Backends[0].Check.Error, "connection refused") {
		t.Errorf("backends: %+v", bl)
	}

	// A check that hangs is cut at the timeout.
	e.backend.set(nil)
	e.store0.hang.Store(true)
	e.clock.Advance(2 * time.Second)
	start := time.Now()
	e.do("GET", "/readyz", nil, "Authorization", "").want(t, 503).json(t, &rb)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("/readyz took %v with a hanging check (timeout 200ms)", d)
	}
	if !slices.Equal(rb.Failed, []string{"store sqlite"}) {
		t.Errorf("store hangs: %+v", rb)
	}

	// Recovery.
	e.store0.hang.Store(false)
	e.clock.Advance(2 * time.Second)
	e.do("GET", "/readyz", nil, "Authorization", "").want(t, 200)
	e.do("GET", "/api/v1/backends", nil).want(t, 200).json(t, &bl)
	if !bl.Backends[0].Check.OK {
		t.Errorf("backend back: %+v", bl.Backends[0].Check)
	}
}

func TestReadyzDraining(t *testing.T) {
	e := newEnv(t)
	e.do("GET", "/readyz", nil, "Authorization", "").want(t, 200) // cached as ready
	if n := e.registry.Drain(context.Background()); n != 0 {
		t.Fatalf("drain cut %d sessions", n)
	}
	var rb readyBody
	e.do("GET", "/readyz", nil, "Authorization", "").want(t, 503).json(t, &rb)
	if rb.Ready || !rb.Draining || !slices.Equal(rb.Failed, []string{"draining"}) {
		t.Errorf("draining: %+v", rb)
	}
}

func TestSessions(t *testing.T) {
	e := newEnv(t)
	a1 := e.openSession("ftp", "alice", "192.0.2.1:5000")
	e.openSession("sftp", "alice", "192.0.2.2:5001")
	b := e.openSession("sftp", "bob", "192.0.2.3:5002")
	b.StartTransfer("upload", "/big.iso")
	b.AddBytes(1234, 0)

	var sl struct {
		Sessions []auth.SessionInfo `json:"sessions"`
	}
	e.do("GET", "/api/v1/sessions", nil).want(t, 200).json(t, &sl)
	if len(sl.Sessions) != 3 || sl.Sessions[2].User != "bob" || sl.Sessions[2].Transfer != "upload /big.iso" ||
		sl.Sessions[2].BytesIn != 1234 || sl.Sessions[0].Remote != "192.0.2.1:5000" || sl.Sessions[0].Protocol != "ftp" {
		t.Errorf("sessions: %+v", sl.Sessions)
	}
	e.do("GET", "/api/v1/sessions?user=alice", nil).want(t, 200).json(t, &sl)
	if len(sl.Sessions) != 2 {
		t.Errorf("alice's sessions: %+v", sl.Sessions)
	}

	e.do("DELETE", fmt.Sprintf("/api/v1/sessions/%d", a1.ID()), nil).want(t, 204)
	e.do("DELETE", fmt.Sprintf("/api/v1/sessions/%d", a1.ID()), nil).want(t, 404).problem(t)
	if p := e.do("DELETE", "/api/v1/sessions/abc", nil).want(t, 422).problem(t); p.Errors[0].Field != "id" {
		t.Errorf("bad id: %+v", p)
	}
	var k struct {
		Kicked int `json:"kicked"`
	}
	e.do("DELETE", "/api/v1/users/alice/sessions", nil).want(t, 200).json(t, &k)
	if k.Kicked != 1 {
		t.Errorf("kicked %d of alice's sessions, want 1", k.Kicked)
	}
	e.do("GET", "/api/v1/sessions", nil).want(t, 200).json(t, &sl)
	if len(sl.Sessions) != 1 || sl.Sessions[0].User != "bob" {
		t.Errorf("after kicking: %+v", sl.Sessions)
	}
	e.do("DELETE", "/api/v1/users/alice/sessions", nil).want(t, 200).json(t, &k)
	if k.Kicked != 0 {
		t.Errorf("kicked %d, want 0", k.Kicked)
	}
}

func TestMetrics(t *testing.T) {
	e := newEnv(t)
	e.openSession("sftp", "alice", "192.0.2.1:5000")
	e.openSession("sftp", "bob", "192.0.2.2:5000")
	e.openSession("ftps", "carol", "192.0.2.3:5000")
	m := e.admin.Metrics()
	m.Transfer("ftp", "upload", 1000)
	m.Transfer("sftp", "download", 2500)
	m.Login("sftp", "ok")
	m.Operation("sftp", "rename", 3*time.Millisecond)
	m.BackendCall("put", 40*time.Millisecond, errors.New("timeout"))
	m.Error("ftp", "not_found")
	e.login(t, "root", "wrong", 401)
	var nilMetrics *admin.Metrics
	nilMetrics.Transfer("ftp", "upload", 1) // no-op, no panic

	resp, err := http.Get(e.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, body)
	}
	text := string(body)
	for _, want := range []string{
		`wharf_sessions{protocol="sftp"} 2`,
		`wharf_sessions{protocol="ftps"} 1`,
		`wharf_sessions{protocol="ftp"} 0`,
		`wharf_transfers_total{direction="upload",protocol="ftp"} 1`,
		`wharf_transfer_bytes_total{direction="upload",protocol="ftp"} 1000`,
		`wharf_transfer_bytes_total{direction="download",protocol="sftp"} 2500`,
		`wharf_logins_total{protocol="sftp",result="ok"} 1`,
		`wharf_logins_total{protocol="admin",result="failed"} 1`,
		`wharf_operation_duration_seconds_count{op="rename",protocol="sftp"} 1`,
		`wharf_backend_call_duration_seconds_bucket{op="put",le="0.05"} 1`,
		`wharf_backend_call_errors_total{op="put"} 1`,
		`wharf_errors_total{kind="not_found",protocol="ftp"} 1`,
		`wharf_bans_total 0`,
		`go_goroutines `,
		`process_cpu_seconds_total `,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// Every wharf series follows the naming conventions.
	name := regexp.MustCompile(`(?m)^(wharf_[a-z_]+)`)
	for _, n := range name.FindAllStringSubmatch(text, -1) {
		s := n[1]
		ok := strings.HasSuffix(s, "_total") || strings.HasSuffix(s, "_bytes") || s == "wharf_sessions" ||
			regexp.MustCompile(`_seconds(_bucket|_sum|_count)?$`).MatchString(s)
		if !ok {
			t.Errorf("metric %s does not follow the naming conventions", s)
		}
	}

	// Sessions are read at each scrape.
	e.registry.KickUser("alice")
	resp2, err := http.Get(e.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	body, _ = io.ReadAll(resp2.Body)
	if !strings.Contains(string(body), `wharf_sessions{protocol="sftp"} 1`) {
		t.Error("wharf_sessions did not follow a kick")
	}
}

type fakeBudget struct{}

func (fakeBudget) Limit() int64 { return 1 << 30 }
func (fakeBudget) InUse() int64 { return 5 << 20 }

func TestMetricsBudget(t *testing.T) {
	m := admin.NewMetrics(nil, fakeBudget{})
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{"wharf_upload_budget_bytes 1.073741824e+09", "wharf_upload_budget_used_bytes 5.24288e+06"} {
		if !strings.Contains(w.Body.String(), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// Nodes come from the shared store; one whose heartbeat is old is not
// alive.
func TestNodes(t *testing.T) {
	e := newEnv(t)
	now := e.clock.Now()
	for _, n := range []*auth.Node{
		{ID: "a", Version: "v1", Ready: true, Sessions: 2, Started: now.Add(-time.Hour), Heartbeat: now.Add(-5 * time.Second)},
		{ID: "b", Version: "v1", Started: now.Add(-time.Hour), Heartbeat: now.Add(-5 * time.Minute)},
	} {
		if err := e.store.PutNode(t.Context(), n); err != nil {
			t.Fatal(err)
		}
	}
	var nl struct {
		Nodes []struct {
			ID       string `json:"id"`
			Ready    bool   `json:"ready"`
			Sessions int    `json:"sessions"`
			Alive    bool   `json:"alive"`
		} `json:"nodes"`
	}
	e.do("GET", "/api/v1/nodes", nil).want(t, 200).json(t, &nl)
	if len(nl.Nodes) != 2 || !nl.Nodes[0].Alive || !nl.Nodes[0].Ready || nl.Nodes[0].Sessions != 2 || nl.Nodes[1].Alive {
		t.Fatalf("nodes: %+v", nl)
	}
	e.do("GET", "/api/v1/nodes", nil, "Authorization", "").want(t, 401)
}
