// Package sdk is the Go client of ofs: it reads features from the feature
// servers, writes rows through them, publishes feature events to Kafka in
// batches, and applies and reads registry objects.
//
// A Client holds one gRPC connection, shared by every call and safe for
// concurrent use; dial it once per process:
//
//	c, err := sdk.Dial("features.internal:7070", sdk.WithToken(token))
//	if err != nil { ... }
//	defer c.Close()
//	res, err := c.Retrieve(ctx, sdk.RetrieveRequest{
//		Entity: "user",
//		Keys:   [][]string{{"42"}, {"43"}},
//		Groups: []sdk.Group{{Name: "user_activity", Features: []string{"clicks_1h", "ctr_1h"}}},
//	})
//	if err != nil { ... }
//	ctr, _ := res.Index("ctr_1h")
//	for row := range res.Len() {
//		fmt.Println(res.Found(row, 0), res.Float32(row, ctr))
//	}
//	data, rows, width := res.Float32Matrix() // a view of the answer, not a copy
//
// A call is retried only when the server marks its error retryable (an
// ErrorInfo detail: a store that cannot be reached, for one), or when the
// connection failed or an attempt ran out of its share of the caller's
// deadline, with exponential backoff and jitter (see Retry, WithRetry).
//
// Client.Persist is the synchronous write: when it returns nil, every live
// feature server answers the new values. Every attempt carries one
// idempotency key and the same event times, so retrying never makes the
// write newer than it was; a failure is a *PersistError whose Outcome is
// ErrNotApplied or ErrOutcomeUnknown, and Persist again with its Options
// resolves an unknown one.
//
// A Publisher produces feature events to the features topic without waiting
// for each: Publish queues, Flush waits for every queued event to be
// acknowledged by Kafka. The ingest processor then writes them into the
// stores, so a published row becomes readable shortly after, not at once;
// Client.Persist is the synchronous write.
//
// Over networks that are not trusted: WithTLS for a server with grpc.tls
// (a tls.Config with the server's CA, and a client certificate for mutual
// TLS), and, for a Kafka with TLS and SASL, the same topics.Security that the
// servers use:
//
//	sec := topics.Security{TLS: &tls.Config{MinVersion: tls.VersionTLS12},
//		SASL: topics.SASL{Mechanism: topics.SASLScramSHA512, Username: user, Password: password}}
//	p, err := sdk.NewPublisher(brokers, "ofs", sdk.WithSaramaConfig(func(c *sarama.Config) { _ = sec.Apply(c) }))
package sdk
