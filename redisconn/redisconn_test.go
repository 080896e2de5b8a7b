package redisconn

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestOptions(t *testing.T) {
	tests := []struct {
		name     string
		url      string
		addrs    []string
		topology string
		master   string
		db       int
		tls      bool
		wantErr  string
	}{
		{name: "one node", url: "redis://127.0.0.1:6380/2", addrs: []string{"127.0.0.1:6380"}, topology: "single", db: 2},
		{name: "default port", url: "redis://cache", addrs: []string{"cache:6379"}, topology: "single"},
		{name: "tls", url: "rediss://cache:6380", addrs: []string{"cache:6380"}, topology: "single", tls: true},
		{name: "cluster", url: "redis://h1:7000?addr=h2:7001&addr=h3:7002", addrs: []string{"h1:7000", "h2:7001", "h3:7002"}, topology: "cluster"},
		{name: "sentinel", url: "redis://s1:26379?addr=s2:26379&master_name=pay", addrs: []string{"s1:26379", "s2:26379"}, topology: "sentinel", master: "pay"},
		{name: "wrong scheme", url: "http://h:1", wantErr: "neither redis nor rediss"},
		{name: "no host", url: "redis://", wantErr: "no host"},
		{name: "no scheme", url: "127.0.0.1:6379", wantErr: "write it as redis://host:port/db"},
		{name: "no scheme, host name", url: "cache:6379", wantErr: "write it as redis://host:port/db"},
		{name: "bad addr", url: "redis://h1:1?addr=h2", wantErr: "not host:port"},
		{name: "unknown parameter", url: "redis://h1:1?pool=3", wantErr: `"pool" is not known`},
		{name: "bad db", url: "redis://h1:1/x", wantErr: "not a database number"},
		{name: "cluster with a db", url: "redis://h1:1/3?addr=h2:2", wantErr: "only database 0"},
		{name: "password kept out of errors", url: "redis://u:s3cret@h1:1/x%zz", wantErr: "does not parse"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts, err := Options(tc.url, "")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Fatalf("the error quotes the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(opts.Addrs, tc.addrs) || Topology(opts) != tc.topology || opts.MasterName != tc.master || opts.DB != tc.db || (opts.TLSConfig != nil) != tc.tls {
				t.Fatalf("got addrs %v topology %s master %q db %d tls %v", opts.Addrs, Topology(opts), opts.MasterName, opts.DB, opts.TLSConfig != nil)
			}
		})
	}
}

func TestOptionsCAFile(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.pem")
	if err := os.WriteFile(empty, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Options("redis://h:1", empty); err == nil || !strings.Contains(err.Error(), "rediss:// URLs only") {
		t.Fatalf("ca_file with redis:// gave %v", err)
	}
	if _, err := Options("rediss://h:1", empty); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("a CA file without certificates gave %v", err)
	}
	if _, err := Options("rediss://h:1", filepath.Join(dir, "missing.pem")); err == nil {
		t.Fatal("a missing CA file was accepted")
	}
}
