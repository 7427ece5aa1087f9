package sdk_test

import (
	"context"
	"fmt"
	"time"

	"github.com/ofstack/ofs/sdk"
)

func ExampleClient_Persist() {
	c, err := sdk.Dial(serverAddr) // for example "localhost:7070"
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	err = c.Persist(context.Background(), "user_profile", []sdk.Row{{
		Keys:   map[string]any{"user_id": 7},
		Values: map[string]any{"age": 42, "country": "FR", "is_premium": true},
	}})
	fmt.Println("persisted:", err == nil)
	// Output: persisted: true
}

func ExampleClient_Retrieve() {
	c, err := sdk.Dial(serverAddr)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	ctx := context.Background()
	if err := c.Persist(ctx, "user_activity", []sdk.Row{
		{Keys: map[string]any{"user_id": 8}, Values: map[string]any{"clicks_1h": 3, "ctr_1h": float32(0.25)}},
	}); err != nil {
		fmt.Println(err)
		return
	}
	res, err := c.Retrieve(ctx, sdk.RetrieveRequest{
		Entity: "user",
		Keys:   [][]string{{"8"}, {"9"}}, // 9 has no row: defaults
		Groups: []sdk.Group{{Name: "user_activity", Features: []string{"clicks_1h", "ctr_1h"}}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	clicks, _ := res.Index("clicks_1h")
	ctr, _ := res.Index("user_activity.ctr_1h")
	for row := range res.Len() {
		fmt.Printf("found=%v clicks=%d ctr=%.2f\n", res.Found(row, 0), res.Uint64(row, clicks), res.Float32(row, ctr))
	}
	// The fp32 columns as one matrix, without copying the answer.
	data, rows, width := res.Float32Matrix()
	fmt.Println(rows, width, data[0*width+res.Columns()[ctr].Offset])
	// Output:
	// found=true clicks=3 ctr=0.25
	// found=false clicks=0 ctr=0.01
	// 2 1 0.25
}

func ExamplePublisher() {
	p, err := sdk.NewPublisher(brokers, prefix) // for example []string{"localhost:9092"}, "ofs"
	if err != nil {
		fmt.Println(err)
		return
	}
	for id := range 3 {
		if err := p.Publish(sdk.Event{
			Entity: "user", Group: "user_activity",
			Keys:      []sdk.Key{{Column: "user_id", Value: 20 + id}},
			EventTime: time.Now(),
			Values:    map[string]any{"clicks_1h": id, "views_1h": 10 * id},
		}); err != nil {
			fmt.Println(err)
			return
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := p.Flush(ctx); err != nil { // every event so far is in Kafka
		fmt.Println(err)
		return
	}
	sent, failed := p.Stats()
	fmt.Println("sent", sent, "failed", failed)
	if err := p.Close(); err != nil {
		fmt.Println(err)
		return
	}
	// Output: sent 3 failed 0
}

func ExampleClient_Entity() {
	c, err := sdk.Dial(serverAddr)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	e, err := c.Entity(context.Background(), "user_item")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, k := range e.GetKeyColumns() {
		fmt.Println(k.GetName(), k.GetType())
	}
	// Output:
	// user_id DATA_TYPE_INT64
	// sku DATA_TYPE_STRING
}
