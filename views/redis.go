package views

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// writeLua stores each block under its key unless the stored block wins.
//
//	KEYS[i]       the key of one (entity key, feature group)
//	ARGV[2i-1]    its new block (PSDB)
//	ARGV[2i]      its time to live in milliseconds, "0" for none
//
// It returns how many blocks it stored. One call takes many keys (on a
// cluster, only keys of one slot) and reads them with one MGET, which saves
// Redis a command per block for the call and one for the read: about a
// fifth of its CPU for rows of a few hundred bytes (docs/benchmarks.md).
// MGET answers nil for a key of another type as for a missing one, so a
// block for a key that MGET found empty is stored with SET NX, whose
// refusal reveals such a key; a key that comes twice in one call is
// compared with what the call stored first.
//
// The script follows Wins. Event times are the int64 at byte offset 8 of
// each block, little-endian (Lua bytes 9 to 16), expiries the one at offset
// 16 (bytes 17 to 24, 0 for never). Lua numbers are doubles, which hold only
// 53 bits, so the script never converts them to numbers: cmp64 compares the
// eight bytes from the most significant one down, the top byte with its
// sign bit flipped (x+128 mod 256), which orders two's-complement values as
// unsigned bytes. A new block is dropped when it loses, or when it is byte
// for byte the stored one (nothing to do, and the TTL is left alone). Lua
// compares strings with the locale's collation, so the last step of the tie
// rule compares byte by byte. A stored value that is not a string, or too
// short to hold an event time and an expiry, is an error naming the key's
// place in KEYS: the script never overwrites what it cannot compare, and
// the keys after it in the call are left for the caller's retry.
const writeLua = `
-- cmp64 compares the int64 little-endian at Lua byte 'at' of a and b.
local function cmp64(a, b, at)
  local d = (string.byte(a, at + 7) + 128) % 256 - (string.byte(b, at + 7) + 128) % 256
  local i = at + 6
  while d == 0 and i >= at do
    d = string.byte(a, i) - string.byte(b, i)
    i = i - 1
  end
  return d
end
local never = string.rep('\0', 8)
-- wins reports whether new replaces old, a different block.
local function wins(new, old)
  local d = cmp64(new, old, 9)
  if d == 0 then
    local ne, oe = string.sub(new, 17, 24), string.sub(old, 17, 24)
    if ne ~= oe then
      if ne == never then
        d = -1
      elseif oe == never then
        d = 1
      else
        d = cmp64(new, old, 17)
      end
    end
  end
  if d == 0 then
    local n = math.min(#new, #old)
    local i = 1
    while d == 0 and i <= n do
      d = string.byte(new, i) - string.byte(old, i)
      i = i + 1
    end
    if d == 0 then
      d = #new - #old
    end
  end
  return d > 0
end
local unpack = unpack or table.unpack -- Lua 5.1 (Redis) or 5.4 (Dragonfly)
local olds = redis.call('MGET', unpack(KEYS))
-- put holds what this call stored, for a key that comes again in it.
local put = {}
local stored = 0
for k = 1, #KEYS do
  local new, ttl = ARGV[2 * k - 1], ARGV[2 * k]
  local old = put[KEYS[k]] or olds[k]
  local replace = true
  if old then
    if #old < 24 then
      return redis.error_reply('OFSNOTBLOCK ' .. k .. ' stored value of ' .. #old .. ' bytes has no event time')
    end
    replace = old ~= new and wins(new, old)
  end
  if replace then
    -- MGET answers nil for a key of another type as for none: NX leaves
    -- such a key alone, and its refusal is the sign of it.
    local r
    if old then
      if ttl == '0' then
        r = redis.call('SET', KEYS[k], new)
      else
        r = redis.call('SET', KEYS[k], new, 'PX', ttl)
      end
    elseif ttl == '0' then
      r = redis.call('SET', KEYS[k], new, 'NX')
    else
      r = redis.call('SET', KEYS[k], new, 'NX', 'PX', ttl)
    end
    if not r then
      return redis.error_reply('OFSNOTBLOCK ' .. k .. ' the key holds a ' .. redis.call('TYPE', KEYS[k]).ok)
    end
    put[KEYS[k]] = new
    stored = stored + 1
  end
end
return stored
`

// writeScript runs writeLua by its SHA-1 (EVALSHA), falling back to EVAL
// where a server does not have it cached.
var writeScript = redis.NewScript(writeLua)

// notBlockPrefix starts the error replies of writeLua for a stored value
// that is not a block.
const notBlockPrefix = "OFSNOTBLOCK"

// DefaultRedisPipeline is the number of blocks or keys a Redis store sends
// in one round trip without the RedisPipeline option.
const DefaultRedisPipeline = 1000

// Redis is a Store in Redis: standalone, Sentinel or Cluster, or Dragonfly.
// Each block is one string key (see appendRedisKey and docs/formats.md);
// writes go through a Lua script that keeps the block with the latest event
// time, reads are MGETs.
type Redis struct {
	client  redis.UniversalClient
	owned   bool // Close closes client
	cluster bool // client is a *redis.ClusterClient: multi-key commands stay within one slot
	prefix  string
	batch   int
}

var _ Store = (*Redis)(nil)

type redisConfig struct {
	prefix string
	batch  int
}

// RedisOption configures a Redis store.
type RedisOption func(*redisConfig)

// RedisPrefix sets the prefix of every key (default DefaultRedisPrefix). It
// must not hold '{' or '}'.
func RedisPrefix(p string) RedisOption { return func(c *redisConfig) { c.prefix = p } }

// RedisPipeline sets how many blocks a Write (in script calls of up to
// ScriptKeys blocks) or keys a Read (in MGETs) sends in one round trip
// (default DefaultRedisPipeline).
func RedisPipeline(n int) RedisOption { return func(c *redisConfig) { c.batch = n } }

// NewRedis returns a store that uses client, which the caller keeps: Close
// does not close it. A *redis.ClusterClient (from redis.NewClusterClient,
// or redis.NewUniversalClient with several addresses) makes the store read
// in cluster mode.
func NewRedis(client redis.UniversalClient, opts ...RedisOption) (*Redis, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: nil Redis client", ErrInvalidOption)
	}
	c := redisConfig{prefix: DefaultRedisPrefix, batch: DefaultRedisPipeline}
	for _, o := range opts {
		o(&c)
	}
	if err := checkRedisPrefix(c.prefix); err != nil {
		return nil, err
	}
	if c.batch < 1 {
		return nil, fmt.Errorf("%w: Redis pipeline of %d commands", ErrInvalidOption, c.batch)
	}
	_, cluster := client.(*redis.ClusterClient)
	return &Redis{client: client, cluster: cluster, prefix: c.prefix, batch: c.batch}, nil
}

// OpenRedis returns a store with a client of its own, made by
// redis.NewUniversalClient: standalone for one address, Sentinel when
// MasterName is set, Cluster for several addresses or IsClusterMode. Close
// closes the client. It does not connect; Ping does.
func OpenRedis(o *redis.UniversalOptions, opts ...RedisOption) (*Redis, error) {
	if o == nil || len(o.Addrs) == 0 {
		return nil, fmt.Errorf("%w: no Redis address", ErrInvalidOption)
	}
	client := redis.NewUniversalClient(o)
	r, err := NewRedis(client, opts...)
	if err != nil {
		return nil, errors.Join(err, client.Close())
	}
	r.owned = true
	return r, nil
}

// Ping checks that the server answers.
func (r *Redis) Ping(ctx context.Context) error {
	if err := r.client.Ping(ctx).Err(); err != nil {
		return r.fail(ctx, "ping", "", err)
	}
	return nil
}

// Close closes the client if the store made it (OpenRedis).
func (r *Redis) Close() error {
	if !r.owned {
		return nil
	}
	return r.client.Close()
}

// Write stores blocks through the write script, RedisPipeline calls per
// round trip. Per key, a block replaces the stored one when its event time
// is later, or equal and it wins the tie rule (Wins); a losing or
// identical block is dropped. The key's TTL is set from the stored
// block's TTL (none when 0).
func (r *Redis) Write(ctx context.Context, blocks []Block) error {
	if err := checkBlocks(blocks); err != nil {
		return err
	}
	for start := 0; start < len(blocks); start += r.batch {
		if err := r.write(ctx, blocks[start:min(start+r.batch, len(blocks))]); err != nil {
			return err
		}
	}
	return nil
}

// ScriptKeys is the most blocks one call of the write script stores. Redis
// runs a script alone, so a call must stay short beside the reads of the
// servers: 64 blocks of a few hundred bytes take Redis about 0.2 ms
// (0.4 ms when the keys are new).
const ScriptKeys = 64

// scriptCall is one call of the write script in a pipeline: the blocks
// [start, end) of a write.
type scriptCall struct {
	start, end int
	cmd        *redis.Cmd
}

func (r *Redis) write(ctx context.Context, blocks []Block) error {
	keys := make([]string, len(blocks))
	args := make([]any, 2*len(blocks))
	var buf []byte
	for i := range blocks {
		b := &blocks[i]
		buf = appendRedisKey(buf[:0], r.prefix, b.Key, b.Group)
		keys[i] = string(buf)
		args[2*i], args[2*i+1] = b.Data, ttlMillis(b.TTL)
	}
	// A cluster runs a script on the node of its keys' slot, so there
	// each call takes the blocks of one entity key (one hash tag) in a row.
	per := ScriptKeys
	calls := make([]scriptCall, 0, len(blocks)/per+1)
	pipe := r.client.Pipeline()
	for start := 0; start < len(blocks); {
		end := min(start+per, len(blocks))
		if r.cluster {
			end = start + 1
			for end < len(blocks) && end-start < per && sameKey(blocks[end].Key, blocks[start].Key) {
				end++
			}
		}
		calls = append(calls, scriptCall{start: start, end: end,
			cmd: writeScript.EvalSha(ctx, pipe, keys[start:end], args[2*start:2*end]...)})
		start = end
	}
	_, err := pipe.Exec(ctx)
	if err == nil {
		return nil
	}
	// A server without the script cached (restarted, failed over, flushed)
	// answers NOSCRIPT; those calls are sent again with the script's text.
	var retry []scriptCall
	for _, c := range calls {
		switch e := c.cmd.Err(); {
		case e == nil:
		case redis.HasErrorPrefix(e, "NOSCRIPT"):
			retry = append(retry, c)
		default:
			return r.fail(ctx, "write", callKey(keys, c, e), e)
		}
	}
	if len(retry) == 0 {
		return r.fail(ctx, "write", keys[0], err)
	}
	pipe = r.client.Pipeline()
	for i, c := range retry {
		retry[i].cmd = writeScript.Eval(ctx, pipe, keys[c.start:c.end], args[2*c.start:2*c.end]...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		for _, c := range retry {
			if e := c.cmd.Err(); e != nil {
				return r.fail(ctx, "write", callKey(keys, c, e), e)
			}
		}
		return r.fail(ctx, "write", keys[retry[0].start], err)
	}
	return nil
}

// callKey is the key that the error of call c is about: the one a
// not-a-block reply names by its place in the call, else the call's first.
func callKey(keys []string, c scriptCall, err error) string {
	if rest, ok := strings.CutPrefix(err.Error(), notBlockPrefix+" "); ok {
		n, _, _ := strings.Cut(rest, " ")
		if k, perr := strconv.Atoi(n); perr == nil && k >= 1 && k <= c.end-c.start {
			return keys[c.start+k-1]
		}
	}
	return keys[c.start]
}

// ttlMillis is d in whole milliseconds, rounded up so that a block is never
// dropped before its TTL; 0 stays 0 (no expiry).
func ttlMillis(d time.Duration) int64 {
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}

// Read gets the blocks of keys × groups. On a standalone or Sentinel server
// it sends MGETs of up to RedisPipeline keys; on a cluster one MGET per
// entity key, whose groups share a slot, all in one pipeline. A key that
// holds another type than a string reads as missing (MGET's rule); Write
// reports it with ErrNotBlock.
func (r *Redis) Read(ctx context.Context, keys []Key, groups []uint32) ([][]byte, error) {
	out := make([][]byte, len(keys)*len(groups))
	if len(out) == 0 {
		return out, nil
	}
	if err := checkKeys(keys); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(out))
	var buf []byte
	for _, k := range keys {
		buf = appendRedisTag(buf[:0], r.prefix, k)
		tag := len(buf)
		for _, g := range groups {
			buf = strconv.AppendUint(buf[:tag], uint64(g), 10)
			names = append(names, string(buf))
		}
	}
	step := r.batch
	if r.cluster {
		step = len(groups)
	}
	cmds := make([]*redis.SliceCmd, 0, (len(names)+step-1)/step)
	pipe := r.client.Pipeline()
	for s := 0; s < len(names); s += step {
		cmds = append(cmds, pipe.MGet(ctx, names[s:min(s+step, len(names))]...))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		for c, cmd := range cmds {
			if e := cmd.Err(); e != nil {
				return nil, r.fail(ctx, "read", names[c*step], e)
			}
		}
		return nil, r.fail(ctx, "read", names[0], err)
	}
	for c, cmd := range cmds {
		for i, v := range cmd.Val() {
			switch v := v.(type) {
			case nil:
			case string:
				out[c*step+i] = []byte(v)
			default:
				return nil, fmt.Errorf("views: redis: read %q: unexpected reply of type %T", names[c*step+i], v)
			}
		}
	}
	return out, nil
}

// fail wraps an error of the Redis client. A reply that says the key holds
// something else wraps ErrNotBlock, and one from a server that is loading,
// failing over or busy wraps ErrUnavailable. An error that is not a server
// reply is the caller's cancellation or deadline, which passes through, or
// else a failed connection (refused, reset, I/O or pool timeout, closed
// client), which wraps ErrUnavailable.
func (r *Redis) fail(ctx context.Context, op, key string, err error) error {
	where := "redis: " + op
	if key != "" {
		where += " " + strconv.Quote(key)
	}
	var reply redis.Error
	if !errors.As(err, &reply) {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("views: %s: %w (%w)", where, ctxErr, err)
		}
		return fmt.Errorf("%w: %s: %w", ErrUnavailable, where, err)
	}
	switch {
	case redis.HasErrorPrefix(err, notBlockPrefix), redis.HasErrorPrefix(err, "WRONGTYPE"):
		return fmt.Errorf("%w: %s: %w", ErrNotBlock, where, err)
	case redis.IsLoadingError(err), redis.IsClusterDownError(err), redis.IsTryAgainError(err),
		redis.IsMasterDownError(err), redis.IsMaxClientsError(err), redis.IsReadOnlyError(err),
		redis.HasErrorPrefix(err, "BUSY"):
		return fmt.Errorf("%w: %s: %w", ErrUnavailable, where, err)
	}
	return fmt.Errorf("views: %s: %w", where, err)
}
