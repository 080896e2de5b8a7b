package caddymodule

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/checkoutgw/checkoutgw/replay"
)

// acceptLedger counts, per signature, how often any gateway forwarded it.
type acceptLedger struct {
	mu       sync.Mutex
	accepted map[string]int
	statuses map[int]int
}

func newAcceptLedger() *acceptLedger {
	return &acceptLedger{accepted: map[string]int{}, statuses: map[int]int{}}
}

// sendToAll sends tok to every gateway at once and fails the test the
// moment a signature is accepted a second time.
func (l *acceptLedger) sendToAll(t *testing.T, gateways []*gateway, tok string) []int {
	got := make([]int, len(gateways))
	var wg sync.WaitGroup
	for i, gw := range gateways {
		wg.Go(func() { got[i] = statusOf(t, gw.post(t, testPath, tok, validBody)) })
	}
	wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, status := range got {
		l.statuses[status]++
		switch status {
		case http.StatusOK:
			if l.accepted[tok]++; l.accepted[tok] > 1 {
				t.Errorf("a signature was accepted %d times", l.accepted[tok])
			}
		case http.StatusUnauthorized, http.StatusServiceUnavailable:
		default:
			t.Errorf("a request got %d", status)
		}
	}
	if _, seen := l.accepted[tok]; !seen {
		l.accepted[tok] = 0
	}
	return got
}

func (l *acceptLedger) count(status int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.statuses[status]
}

// replayKey is the Redis key the gateway marks tok under.
func replayKey(t *testing.T, tok string) string {
	parts := strings.Split(tok, ".")
	header, err := base64.RawURLEncoding.DecodeString(parts[0])
	must(t, err)
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	must(t, err)
	key := replay.KeyFor(header, payload)
	return defaultReplayKeyPrefix + hex.EncodeToString(key[:])
}

// shard is one master's slots and its replica.
type shard struct {
	master, replica *redisServer
	slots           []redis.ClusterSlot
}

// firstShard is the master that serves slot 0, with its one replica.
func (c *redisCluster) firstShard(t *testing.T) *shard {
	client := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", c.nodes[0].port)})
	defer client.Close()
	slots, err := client.ClusterSlots(context.Background()).Result()
	must(t, err)
	byAddr := map[string]*redisServer{}
	for _, n := range c.nodes {
		byAddr[fmt.Sprintf("127.0.0.1:%d", n.port)] = n
	}
	s := &shard{}
	for _, slot := range slots {
		if slot.Start == 0 && len(slot.Nodes) == 2 {
			s.master, s.replica = byAddr[slot.Nodes[0].Addr], byAddr[slot.Nodes[1].Addr]
		}
	}
	if s.master == nil || s.replica == nil {
		t.Fatalf("no master with one replica serves slot 0: %+v", slots)
	}
	for _, slot := range slots {
		if byAddr[slot.Nodes[0].Addr] == s.master {
			s.slots = append(s.slots, slot)
		}
	}
	return s
}

// holds reports whether tok's replay key falls in the shard's slots.
func (s *shard) holds(t *testing.T, tok string) bool {
	// Any live node computes the slot; the replica outlives the master.
	client := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", s.replica.port)})
	defer client.Close()
	slot, err := client.ClusterKeySlot(context.Background(), replayKey(t, tok)).Result()
	must(t, err)
	for _, r := range s.slots {
		if int64(r.Start) <= slot && slot <= int64(r.End) {
			return true
		}
	}
	return false
}

// isMaster reports whether rs now answers ROLE as a master.
func (rs *redisServer) isMaster() bool {
	client := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", rs.port)})
	defer client.Close()
	role, err := client.Do(context.Background(), "role").Slice()
	return err == nil && len(role) > 0 && role[0] == "master"
}

// TestRedisClusterFailover runs two gateways (two Caddy processes) on a
// Cluster of 3 masters with one replica each. A mark that no replica
// confirmed is refused with 503; a master is killed while requests flow:
// requests on its slots get 503 until its replica is promoted, then succeed
// again without a restart; signatures marked before the kill are still
// known to the promoted replica; and no signature, sent to both gateways
// at once before, during and after, is ever accepted twice.
func TestRedisClusterFailover(t *testing.T) {
	c := startRedisCluster(t, 1)
	option := "\t\t\treplay_protection redis " + c.url() + "\n"
	f := newVerdictFixture(t, option)
	other := startCaddyProcess(t, gatewaySite(f.up.hostPort(), "\t\t\tjwks_file "+writeJWKS(t, f.k384, f.k256)+"\n"+option))
	gateways := []*gateway{f.gw, other}
	ledger := newAcceptLedger()
	var n int
	sign := func() string {
		n++
		return f.k384.sign(t, claimsWith(validBody, func(cl map[string]any) { cl["jti"] = fmt.Sprint("failover-", n) }), false)
	}
	s := c.firstShard(t)
	signOnShard := func() string {
		for range 200 {
			if tok := sign(); s.holds(t, tok) {
				return tok
			}
		}
		t.Fatal("no signature fell on the first shard in 200 tries")
		return ""
	}

	var healthy []string
	for range 6 {
		tok := sign()
		healthy = append(healthy, tok)
		ledger.sendToAll(t, gateways, tok)
	}

	// A mark that no replica confirms in time is refused.
	tok := signOnShard()
	must(t, s.replica.cmd.Process.Signal(syscall.SIGSTOP))
	resp := f.gw.post(t, testPath, tok, validBody)
	must(t, s.replica.cmd.Process.Signal(syscall.SIGCONT))
	if env := decodedEnvelope(t, resp); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(env.Detail, "sign the request anew") {
		t.Fatalf("a mark no replica confirmed got %d %q", resp.StatusCode, env.Detail)
	}
	// Confirmed on the shard before the kill: the promoted replica has it.
	var confirmed []string
	eventually(t, 10*time.Second, "the replica confirms marks again", func() bool {
		tok := signOnShard()
		if got := ledger.sendToAll(t, gateways, tok); got[0] == http.StatusOK || got[1] == http.StatusOK {
			confirmed = append(confirmed, tok)
			return true
		}
		return false
	})
	forwardedBeforeKill := len(f.up.received())

	stop := make(chan struct{})
	var flow sync.WaitGroup
	stopFlow := sync.OnceFunc(func() { close(stop); flow.Wait() })
	defer stopFlow() // also when the test fails before the flow ends
	flow.Go(func() {
		for range 2000 {
			select {
			case <-stop:
				return
			default:
			}
			ledger.sendToAll(t, gateways, f.k256.sign(t, claimsWith(validBody, func(cl map[string]any) { cl["jti"] = fmt.Sprint("flow-", time.Now().UnixNano()) }), false))
		}
	})
	s.master.stop() // SIGKILL, mid-flow
	gap := 0
	eventually(t, 30*time.Second, "the replica is promoted and the shard serves again", func() bool {
		got := ledger.sendToAll(t, gateways, signOnShard())
		if got[0] == http.StatusServiceUnavailable && got[1] == http.StatusServiceUnavailable {
			gap++
		}
		return s.replica.isMaster() && (got[0] == http.StatusOK) != (got[1] == http.StatusOK)
	})
	stopFlow()
	if gap == 0 {
		t.Fatal("no request on the killed master's slots got 503")
	}

	for _, tok := range confirmed {
		for _, got := range ledger.sendToAll(t, gateways, tok) {
			if got != http.StatusUnauthorized {
				t.Fatalf("a signature marked before the failover got %d after it, want 401", got)
			}
		}
	}
	for tok := range ledger.accepted {
		ledger.sendToAll(t, gateways, tok)
	}
	for _, tok := range healthy {
		if ledger.accepted[tok] != 1 {
			t.Fatalf("a signature sent with the cluster healthy was accepted %d times", ledger.accepted[tok])
		}
	}
	total := 0
	for _, times := range ledger.accepted {
		total += times
	}
	if got := len(f.up.received()); got != total || got <= forwardedBeforeKill {
		t.Fatalf("the upstream saw %d requests, %d acceptances (%d before the kill)", got, total, forwardedBeforeKill)
	}
	t.Logf("%d signatures, %d requests refused with 503, %d on the killed shard during the gap", len(ledger.accepted), ledger.count(http.StatusServiceUnavailable), gap)
}
