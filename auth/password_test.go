package auth_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/wharf-gw/wharf/auth"
)

func TestPasswordHash(t *testing.T) {
	h, err := auth.HashPassword("s3cret ünicode", cheap)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=8192,t=1,p=1$") {
		t.Fatalf("hash %q is not a PHC argon2id string with the given costs", h)
	}
	h2, _ := auth.HashPassword("s3cret ünicode", cheap)
	if h == h2 {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	for _, c := range []struct {
		pw   string
		want bool
	}{{"s3cret ünicode", true}, {"s3cret unicode", false}, {"", false}, {strings.Repeat("x", 5000), false}} {
		ok, err := auth.VerifyPassword(h, c.pw)
		if err != nil || ok != c.want {
			t.Fatalf("verify %.20q: %v %v, want %v", c.pw, ok, err, c.want)
		}
	}
	for _, bad := range []string{"", "plain", "$argon2i$v=19$m=8192,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=1,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "$argon2id$v=19$m=8192,t=1,p=1$!!$aGFz"} {
		if _, err := auth.VerifyPassword(bad, "x"); err == nil {
			t.Fatalf("malformed hash %q accepted", bad)
		}
	}
	if _, err := auth.HashPassword("", cheap); err == nil {
		t.Fatal("empty password hashed")
	}
	if _, err := auth.HashPassword("x", auth.Argon2Params{Memory: 1024, Time: 1, Threads: 1}); err == nil {
		t.Fatal("dangerously low cost accepted")
	}
}

// BenchmarkVerifyPassword measures one login's password check with the
// default argon2id costs:
//
//	go test ./auth -run '^$' -bench VerifyPassword
func BenchmarkVerifyPassword(b *testing.B) {
	p := auth.DefaultArgon2()
	h, err := auth.HashPassword("correct horse battery staple", p)
	if err != nil {
		b.Fatal(err)
	}
	b.Run(fmt.Sprintf("m=%dKiB,t=%d,p=%d", p.Memory, p.Time, p.Threads), func(b *testing.B) {
		for range b.N {
			if ok, _ := auth.VerifyPassword(h, "correct horse battery staple"); !ok {
				b.Fatal("no match")
			}
		}
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/verify")
	})
}
