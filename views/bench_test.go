package views

import (
	"context"
	"encoding/binary"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/ofstack/ofs/codec"
	"github.com/ofstack/ofs/internal/testenv"
)

// rowSize is the size of the block of a row of 50 fp32 features: the
// 32-byte header and 200 bytes of values.
const rowSize = codec.HeaderSize + 50*4

// rows returns n blocks of rowSize bytes, one per entity key, group 1.
func rows(n int) []Block {
	blocks := make([]Block, n)
	for i := range blocks {
		blocks[i] = Block{Key: key("user", strconv.Itoa(i)), Group: 1, Data: testBlock(0, rowSize, byte(i))}
	}
	return blocks
}

// setTime gives every block event time t, so that a write replaces the
// block that the previous iteration stored.
func setTime(blocks []Block, t int64) {
	for i := range blocks {
		binary.LittleEndian.PutUint64(blocks[i].Data[codec.EventTimeOffset:], uint64(t))
		blocks[i].EventTime = t
	}
}

func benchWrite(b *testing.B, s Store, batch int) {
	ctx := context.Background()
	blocks := rows(batch)
	var n int64
	for b.Loop() {
		n++
		setTime(blocks, n)
		if err := s.Write(ctx, blocks); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(batch)/b.Elapsed().Seconds(), "rows/s")
}

func benchRead(b *testing.B, s Store, nkeys int) {
	ctx := context.Background()
	blocks := rows(nkeys)
	setTime(blocks, 1)
	if err := s.Write(ctx, blocks); err != nil {
		b.Fatal(err)
	}
	keys := make([]Key, nkeys)
	for i := range blocks {
		keys[i] = blocks[i].Key
	}
	groups := []uint32{1}
	var n int64
	for b.Loop() {
		n++
		out, err := s.Read(ctx, keys, groups)
		if err != nil {
			b.Fatal(err)
		}
		if out[nkeys-1] == nil {
			b.Fatal("a written block is missing")
		}
	}
	b.ReportMetric(float64(n)*float64(nkeys)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkRedisWrite writes batches of 1000 rows of 50 fp32 features, each
// replacing an older block.
func BenchmarkRedisWrite(b *testing.B) {
	s, _ := devRedis(b)
	benchWrite(b, s, 1000)
}

// BenchmarkRedisRead reads 100 entity keys × 1 feature group.
func BenchmarkRedisRead(b *testing.B) {
	s, _ := devRedis(b)
	benchRead(b, s, 100)
}

// BenchmarkScyllaWrite writes batches of 100 rows (100 partitions).
func BenchmarkScyllaWrite(b *testing.B) {
	s := devScylla(b, testenv.Cassandra(b))
	benchWrite(b, s, 100)
}

// BenchmarkScyllaRead reads 100 entity keys × 1 feature group (ten IN
// queries of ten keys, concurrently).
func BenchmarkScyllaRead(b *testing.B) {
	s := devScylla(b, testenv.Cassandra(b))
	benchRead(b, s, 100)
}

// devCluster returns a store on the dev Redis Cluster of three masters,
// under a prefix of the test's own.
func devCluster(b *testing.B) *Redis {
	s, err := OpenRedis(&redis.UniversalOptions{Addrs: testenv.RedisCluster(b), IsClusterMode: true},
		RedisPrefix(testenv.Name(b)+":"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkRedisClusterWrite writes batches of 1000 rows to the 3-master
// cluster.
func BenchmarkRedisClusterWrite(b *testing.B) { benchWrite(b, devCluster(b), 1000) }

// BenchmarkRedisClusterRead reads 100 entity keys × 1 group from the
// cluster (one MGET per key, in one pipeline over the masters).
func BenchmarkRedisClusterRead(b *testing.B) { benchRead(b, devCluster(b), 100) }
