package caddymodule

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisCluster is a real 3-master Redis Cluster on free loopback ports,
// with replicasPerMaster replicas of each master, owned by one test.
type redisCluster struct {
	nodes []*redisServer
	dir   string
}

func startRedisCluster(t *testing.T, replicasPerMaster int) *redisCluster {
	startRedis(t).stop() // skips, or fails in CI, without redis-server
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Fatal("redis-cli is missing next to redis-server")
	}
	c := &redisCluster{dir: t.TempDir()}
	var addrs []string
	for range 3 * (1 + replicasPerMaster) {
		rs := &redisServer{port: freePort(t), t: t}
		rs.args = []string{"--cluster-enabled", "yes", "--cluster-config-file", fmt.Sprintf("nodes-%d.conf", rs.port), "--cluster-node-timeout", "1000", "--dir", c.dir,
			// A master that comes back must still know the used signatures.
			"--appendonly", "yes", "--appendfsync", "always", "--appendfilename", fmt.Sprintf("append-%d.aof", rs.port), "--appenddirname", fmt.Sprintf("aof-%d", rs.port)}
		rs.start()
		t.Cleanup(rs.stop)
		c.nodes = append(c.nodes, rs)
		addrs = append(addrs, fmt.Sprintf("127.0.0.1:%d", rs.port))
	}
	create := exec.Command("redis-cli", append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", fmt.Sprint(replicasPerMaster), "--cluster-yes")...)
	if out, err := create.CombinedOutput(); err != nil {
		t.Fatalf("creating the cluster: %v\n%s", err, out)
	}
	c.waitState(t, "ok")
	eventually(t, 20*time.Second, "every master has its replicas", func() bool {
		client := redis.NewClient(&redis.Options{Addr: addrs[0]})
		defer client.Close()
		slots, err := client.ClusterSlots(context.Background()).Result()
		if err != nil {
			return false
		}
		for _, slot := range slots {
			if len(slot.Nodes) != 1+replicasPerMaster {
				return false
			}
		}
		return true
	})
	return c
}

// url names every node, as an operator would.
func (c *redisCluster) url() string {
	var extra []string
	for _, n := range c.nodes[1:] {
		extra = append(extra, fmt.Sprintf("addr=127.0.0.1:%d", n.port))
	}
	return fmt.Sprintf("redis://127.0.0.1:%d?%s", c.nodes[0].port, strings.Join(extra, "&"))
}

// waitState waits until every running node reports cluster_state.
func (c *redisCluster) waitState(t *testing.T, state string) {
	eventually(t, 20*time.Second, "cluster_state:"+state, func() bool {
		for _, n := range c.nodes {
			if n.cmd == nil {
				continue
			}
			client := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", n.port)})
			info, err := client.ClusterInfo(context.Background()).Result()
			client.Close()
			if err != nil || !strings.Contains(info, "cluster_state:"+state) {
				return false
			}
		}
		return true
	})
}

// TestRedisClusterReplayAndRateLimit runs replay protection and a rate limit
// on a 3-master Cluster, takes one master away and brings it back: while it
// is gone requests on its slots get 503 (on_error closed) and no replay is
// ever accepted; once it is back the gateway recovers without a restart.
// The cluster has no replicas, so this is an outage, not a failover.
func TestRedisClusterReplayAndRateLimit(t *testing.T) {
	c := startRedisCluster(t, 0)
	// Without replicas there is nothing to wait for (replicas 0).
	f := newVerdictFixture(t, "\t\t\treplay_protection redis "+c.url()+" replicas 0\n\t\t\trate_limit 1000/1s store redis "+c.url()+"\n")
	// Tokens differ by jti, so their replay keys spread over the slots.
	var used []string
	for i := range 12 {
		tok := f.k384.sign(t, claimsWith(validBody, func(cl map[string]any) { cl["jti"] = fmt.Sprint("cluster-", i) }), false)
		if got := statusOf(t, f.gw.post(t, testPath, tok, validBody)); got != http.StatusOK {
			t.Fatalf("fresh request %d got %d", i, got)
		}
		used = append(used, tok)
	}
	replayAll := func(phase string) (unavailable int) {
		for _, tok := range used {
			switch got := statusOf(t, f.gw.post(t, testPath, tok, validBody)); got {
			case http.StatusUnauthorized:
			case http.StatusServiceUnavailable:
				unavailable++
			default:
				t.Fatalf("%s: a replay got %d", phase, got)
			}
		}
		return unavailable
	}
	if n := replayAll("cluster up"); n != 0 {
		t.Fatalf("%d replays got 503 with the cluster up", n)
	}
	forwarded := len(f.up.received())

	down := c.nodes[2]
	down.stop()
	c.waitState(t, "fail")
	if n := replayAll("one master down"); n == 0 {
		t.Fatal("no request got 503 with a master down")
	}
	if len(f.up.received()) != forwarded {
		t.Fatal("a request reached the upstream while the cluster was failing")
	}

	down.start()
	c.waitState(t, "ok")
	eventually(t, 20*time.Second, "the gateway recovers", func() bool {
		tok := f.k384.sign(t, claimsWith(validBody, func(cl map[string]any) { cl["jti"] = fmt.Sprint("after-", time.Now().UnixNano()) }), false)
		return statusOf(t, f.gw.post(t, testPath, tok, validBody)) == http.StatusOK
	})
	if n := replayAll("cluster back"); n != 0 {
		t.Fatalf("%d replays got 503 after recovery", n)
	}
}
