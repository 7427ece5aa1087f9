package codec_test

import (
	"errors"
	"fmt"

	"github.com/ofstack/ofs/codec"
	"github.com/ofstack/ofs/schema"
)

// A block written with schema version 1 read through version 2, which added a
// feature with a default.
func Example() {
	v1, err := codec.NewLayout(1, []codec.Column{
		{Name: "ctr", Type: schema.FP32},
		{Name: "country", Type: schema.String},
	})
	if err != nil {
		panic(err)
	}
	clicksDefault, err := codec.DefaultInts(schema.Int32, -1)
	if err != nil {
		panic(err)
	}
	v2, err := codec.NewLayout(2, []codec.Column{
		{Name: "ctr", Type: schema.FP32},
		{Name: "country", Type: schema.String},
		{Name: "clicks_7d", Type: schema.Int32, Default: clicksDefault},
	})
	if err != nil {
		panic(err)
	}

	b := codec.NewBuilder(v1)
	b.SetFloat32(0, 0.25)
	b.SetString(1, "DE")
	const eventTime, expiry = 1_700_000_000_000_000, 1_700_086_400_000_000 // µs
	block, err := b.AppendCompressed(nil, eventTime, expiry)
	if err != nil {
		panic(err)
	}

	// Read clicks_7d and ctr, in that order, from blocks of either version.
	p, err := codec.NewProjection(v2, []*codec.Layout{v1}, []int{2, 0})
	if err != nil {
		panic(err)
	}
	var r codec.Reader
	if err := r.Open(block, p, eventTime+1); err != nil {
		panic(err)
	}
	fmt.Println(r.Header().SchemaVersion, r.Int64(0), r.Float32(1))

	row := make([]float32, p.Width())
	if err := r.ReadFloat32s(row); err != nil {
		panic(err)
	}
	fmt.Println(row)

	// At its expiry the block reads as the defaults.
	err = r.Open(block, p, expiry)
	fmt.Println(errors.Is(err, codec.ErrExpired), r.Int64(0), r.Float32(1))
	// Output:
	// 1 -1 0.25
	// [-1 0.25]
	// true -1 0
}
