package caddymodule

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// routeRedisLogs sends go-redis's own messages (failed dials, pool
// trouble) through Caddy's logger instead of plain lines on stderr, which
// would break JSON log pipelines. go-redis has one process-wide logger, so
// this is set once, when the first Redis store is made.
var routeRedisLogs = sync.OnceFunc(func() {
	redis.SetLogger(redisLogger{caddy.Log().Named("checkout_gateway.redis")})
})

type redisLogger struct{ logger *zap.Logger }

// Printf logs at Warn: go-redis logs only what goes wrong. Its messages
// name addresses, never a password or a command's arguments.
func (l redisLogger) Printf(_ context.Context, format string, v ...any) {
	l.logger.Warn(strings.TrimSpace(fmt.Sprintf(format, v...)))
}
