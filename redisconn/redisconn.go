// Package redisconn turns the one Redis URL an operator writes into a
// go-redis UniversalClient: a single node, a Cluster (more nodes as repeated
// addr parameters) or a Sentinel set (a master_name parameter), with TLS for
// rediss://. The replay and rate-limit stores share it. It knows nothing of
// Caddy.
package redisconn

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Bounds on talking to Redis: a store check must never hold a request for
// long, whatever Redis does.
const (
	dialTimeout = time.Second
	ioTimeout   = 500 * time.Millisecond
	poolSize    = 64
)

// Options parses rawURL, `redis://[user:password@]host:port[/db][?addr=host:port...][&master_name=name]`
// or the same with rediss://, into go-redis's UniversalOptions. caFile, when
// set, is a PEM file of the CAs that TLS trusts instead of the system's.
// Errors never quote the URL: it may hold a password.
func Options(rawURL, caFile string) (*redis.UniversalOptions, error) {
	if !strings.Contains(rawURL, "://") {
		return nil, errors.New("the Redis URL has no scheme: write it as redis://host:port/db, or rediss://host:port/db for TLS")
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err
		}
		return nil, fmt.Errorf("the Redis URL does not parse: %w", err)
	}
	opts := &redis.UniversalOptions{
		DialTimeout:  dialTimeout,
		ReadTimeout:  ioTimeout,
		WriteTimeout: ioTimeout,
		PoolSize:     poolSize,
		MaxRetries:   1,
	}
	switch u.Scheme {
	case "rediss":
		tlsConfig, err := tlsConfig(u.Hostname(), caFile)
		if err != nil {
			return nil, err
		}
		opts.TLSConfig = tlsConfig
	case "redis":
		if caFile != "" {
			return nil, errors.New("ca_file is for rediss:// URLs only")
		}
	default:
		return nil, fmt.Errorf("the Redis URL scheme %q is neither redis nor rediss", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("the Redis URL has no host")
	}
	opts.Addrs = []string{hostPort(u.Hostname(), u.Port())}
	if u.User != nil {
		opts.Username = u.User.Username()
		opts.Password, _ = u.User.Password()
	}
	if db := strings.Trim(u.Path, "/"); db != "" {
		if opts.DB, err = strconv.Atoi(db); err != nil || opts.DB < 0 {
			return nil, fmt.Errorf("the Redis URL path %q is not a database number", db)
		}
	}
	for name, values := range u.Query() {
		switch name {
		case "addr":
			for _, addr := range values {
				host, port, err := net.SplitHostPort(addr)
				if err != nil || host == "" || port == "" {
					return nil, fmt.Errorf("the Redis URL's addr %q is not host:port", addr)
				}
				opts.Addrs = append(opts.Addrs, net.JoinHostPort(host, port))
			}
		case "master_name":
			opts.MasterName = values[len(values)-1]
		default:
			return nil, fmt.Errorf("the Redis URL parameter %q is not known (addr, master_name)", name)
		}
	}
	if opts.DB != 0 && len(opts.Addrs) > 1 && opts.MasterName == "" {
		return nil, errors.New("a Redis Cluster has only database 0")
	}
	return opts, nil
}

// NewClient connects lazily: it never blocks on the network.
func NewClient(rawURL, caFile string) (redis.UniversalClient, error) {
	opts, err := Options(rawURL, caFile)
	if err != nil {
		return nil, err
	}
	return redis.NewUniversalClient(opts), nil
}

// Topology names what go-redis makes of the options, for a log line.
func Topology(opts *redis.UniversalOptions) string {
	switch {
	case opts.MasterName != "":
		return "sentinel"
	case len(opts.Addrs) > 1:
		return "cluster"
	}
	return "single"
}

func hostPort(host, port string) string {
	if host == "" {
		host = "localhost"
	}
	if port == "" {
		port = "6379"
	}
	return net.JoinHostPort(host, port)
}

func tlsConfig(serverName, caFile string) (*tls.Config, error) {
	config := &tls.Config{ServerName: serverName, MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return config, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ca_file %s: no PEM certificate in it", caFile)
	}
	config.RootCAs = pool
	return config, nil
}
