// Command go is the quickstart's Go SDK step: it reads the item_stats
// features of a few products from a running ofs server and prints them, then
// shows the same answer as a dense float32 matrix, viewed without a copy.
//
//	go run ./examples/quickstart/go --addr 127.0.0.1:7070 sku-1 sku-2 sku-404
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/ofstack/ofs/sdk"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7070", "address of an ofs server")
	flag.Parse()
	if err := run(*addr, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(addr string, skus []string) error {
	if len(skus) == 0 {
		return fmt.Errorf("name at least one sku")
	}
	// One client per process: it keeps its connection and is safe for
	// concurrent use.
	c, err := sdk.Dial(addr, sdk.WithDeadline(2*time.Second))
	if err != nil {
		return err
	}
	defer c.Close()

	keys := make([][]string, len(skus))
	for i, s := range skus {
		keys[i] = []string{s}
	}
	res, err := c.Retrieve(context.Background(), sdk.RetrieveRequest{
		Entity: "item",
		Keys:   keys,
		Groups: []sdk.Group{{Name: "item_stats"}}, // every feature of the active version
	})
	if err != nil {
		return err
	}
	price, _ := res.Index("price")
	views, _ := res.Index("views_7d")
	category, _ := res.Index("category")
	embedding, _ := res.Index("embedding")
	for row, sku := range skus {
		fmt.Printf("%-8s found=%-5v price=%.2f views_7d=%d category=%s embedding=%v\n", sku, res.Found(row, 0),
			res.Float32(row, price), res.Int64(row, views), res.String(row, category), res.Float32s(row, embedding))
	}

	// A model wants the numbers as one matrix: every fp32 value of a row,
	// side by side, straight from the answer's bytes.
	data, rows, width := res.Float32Matrix()
	fmt.Printf("fp32 matrix: %d rows x %d columns (price, then the 4 embedding values)\n", rows, width)
	for r := range rows {
		fmt.Println(data[r*width : (r+1)*width])
	}
	return nil
}
