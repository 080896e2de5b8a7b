package caddymodule

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestRefusalDoesNotWaitForTheBody: a client that declares a large body and
// dribbles it gets its refusal at once, and the connection is closed,
// instead of the server reading the body at the client's pace first.
func TestRefusalDoesNotWaitForTheBody(t *testing.T) {
	f := newVerdictFixture(t, "")
	good := f.k384.sign(t, validClaims(validBody), false)
	cases := []struct {
		name    string
		headers string
		status  int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"bad token", "Api-Signature: x.y.z\r\n", http.StatusUnauthorized},
		{"media type", "Api-Signature: " + good + "\r\nContent-Type: text/plain\r\n", http.StatusUnsupportedMediaType},
		{"upgrade", "Api-Signature: " + good + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n", http.StatusBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.up.reset()
			conn, err := net.DialTimeout("tcp", f.gw.addr, 5*time.Second)
			must(t, err)
			defer conn.Close()
			must(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
			declared := 200 << 10 // under the 256 KiB Go's server would drain
			head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\n%sContent-Length: %d\r\n\r\n{", testPath, tc.headers, declared)
			if !strings.Contains(tc.headers, "Content-Type") {
				head = strings.Replace(head, "Host: x\r\n", "Host: x\r\nContent-Type: application/json\r\n", 1)
			}
			_, err = io.WriteString(conn, head)
			must(t, err)

			var sent atomic.Int64
			stop := make(chan struct{})
			dribbled := make(chan struct{})
			go func() {
				defer close(dribbled)
				tick := time.NewTicker(20 * time.Millisecond)
				defer tick.Stop()
				for range 400 { // at most 8 s, far less than the body
					select {
					case <-stop:
						return
					case <-tick.C:
					}
					if _, err := conn.Write([]byte(" ")); err != nil {
						return
					}
					sent.Add(1)
				}
			}()
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			close(stop)
			<-dribbled
			if err != nil {
				t.Fatalf("no answer while the body was still coming (%d of %d bytes sent): %v", sent.Load(), declared, err)
			}
			env := decodedEnvelope(t, resp)
			if resp.StatusCode != tc.status {
				t.Fatalf("got %d %s (%s), want %d", resp.StatusCode, env.Type, env.Detail, tc.status)
			}
			if !resp.Close {
				t.Errorf("the answer does not close the connection")
			}
			if _, err := conn.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !isReset(err) {
				t.Errorf("the connection stays open after the refusal: %v", err)
			}
			if n := len(f.up.received()); n != 0 {
				t.Errorf("the upstream received %d requests", n)
			}
		})
	}
}

// TestRefusalAfterTheWholeBodyKeepsTheConnection: a refusal that read the
// whole body leaves the connection reusable.
func TestRefusalAfterTheWholeBodyKeepsTheConnection(t *testing.T) {
	f := newVerdictFixture(t, "")
	body := `{"CustomerID":""}`
	tok := f.k384.sign(t, validClaims(body), false)
	conn, err := net.DialTimeout("tcp", f.gw.addr, 5*time.Second)
	must(t, err)
	defer conn.Close()
	must(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	br := bufio.NewReader(conn)
	for i := range 2 {
		_, err = fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nApi-Signature: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", testPath, tok, len(body), body)
		must(t, err)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		env := decodedEnvelope(t, resp)
		if resp.StatusCode != http.StatusBadRequest || resp.Close {
			t.Fatalf("request %d: got %d %s, close %v", i, resp.StatusCode, env.Detail, resp.Close)
		}
	}
}

func isReset(err error) bool {
	var opErr *net.OpError
	return errors.As(err, &opErr) && strings.Contains(opErr.Err.Error(), "reset")
}
