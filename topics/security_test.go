package topics_test

import (
	"strings"
	"testing"

	"github.com/IBM/sarama"

	"github.com/ofstack/ofs/internal/testenv"
	"github.com/ofstack/ofs/internal/tlsconf"
	"github.com/ofstack/ofs/topics"
)

func TestSASLCheck(t *testing.T) {
	for _, tc := range []struct {
		s    topics.SASL
		want string
	}{
		{topics.SASL{}, ""},
		{topics.SASL{Mechanism: "scram-sha-512", Username: "u"}, ""},
		{topics.SASL{Mechanism: "PLAIN"}, "needs a username"},
		{topics.SASL{Mechanism: "GSSAPI", Username: "u"}, `mechanism "GSSAPI"`},
		{topics.SASL{Username: "u"}, "without a mechanism"},
	} {
		err := tc.s.Check()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: %v, want %q", tc.s, err, tc.want)
		}
	}
}

// TestSASLOverTLS connects to the dev Kafka's SASL_SSL listener with each
// mechanism: the admin lists topics, and a message produced there is read
// back. A wrong password, or plain text, does not get in.
func TestSASLOverTLS(t *testing.T) {
	brokers, ca := testenv.KafkaSASLSSL(t)
	names, _ := testenv.Topics(t, 1)
	tlsCfg, err := tlsconf.Client(tlsconf.Files{CAFile: ca}, "")
	if err != nil {
		t.Fatal(err)
	}

	user, password := testenv.KafkaScramUser(t)

	for _, sasl := range []topics.SASL{
		{Mechanism: topics.SASLPlain, Username: testenv.KafkaPlainUser, Password: testenv.KafkaPlainPassword},
		{Mechanism: topics.SASLScramSHA256, Username: user, Password: password},
		{Mechanism: topics.SASLScramSHA512, Username: user, Password: password},
	} {
		sec := topics.Security{TLS: tlsCfg, SASL: sasl}
		admin, err := topics.NewAdmin(brokers, sec)
		if err != nil {
			t.Fatalf("%s: admin: %v", sasl.Mechanism, err)
		}
		all, err := admin.ListTopics()
		_ = admin.Close()
		if err != nil || all[string(names.Features)].NumPartitions != 1 {
			t.Fatalf("%s: list topics: %v (features: %+v)", sasl.Mechanism, err, all[string(names.Features)])
		}

		cfg := topics.SaramaConfig("security-test")
		cfg.Producer.Return.Successes = true
		if err := sec.Apply(cfg); err != nil {
			t.Fatal(err)
		}
		producer, err := sarama.NewSyncProducer(brokers, cfg)
		if err != nil {
			t.Fatalf("%s: producer: %v", sasl.Mechanism, err)
		}
		part, off, err := producer.SendMessage(&sarama.ProducerMessage{Topic: string(names.Features),
			Key: sarama.StringEncoder("k"), Value: sarama.StringEncoder(sasl.Mechanism)})
		_ = producer.Close()
		if err != nil {
			t.Fatalf("%s: produce: %v", sasl.Mechanism, err)
		}
		consumer, err := sarama.NewConsumer(brokers, cfg)
		if err != nil {
			t.Fatalf("%s: consumer: %v", sasl.Mechanism, err)
		}
		pc, err := consumer.ConsumePartition(string(names.Features), part, off)
		if err != nil {
			t.Fatal(err)
		}
		m := <-pc.Messages()
		_ = pc.Close()
		_ = consumer.Close()
		if string(m.Value) != sasl.Mechanism {
			t.Fatalf("%s: read back %q", sasl.Mechanism, m.Value)
		}
	}

	for name, sec := range map[string]topics.Security{
		"a wrong password": {TLS: tlsCfg, SASL: topics.SASL{Mechanism: topics.SASLScramSHA512, Username: user, Password: "wrong"}},
		"no TLS":           {SASL: topics.SASL{Mechanism: topics.SASLPlain, Username: testenv.KafkaPlainUser, Password: testenv.KafkaPlainPassword}},
		"no SASL":          {TLS: tlsCfg},
	} {
		cfg := sarama.NewConfig()
		cfg.Version = topics.KafkaVersion
		cfg.Net.DialTimeout, cfg.Net.ReadTimeout = 3e9, 3e9
		cfg.Metadata.Retry.Max = 0
		if err := sec.Apply(cfg); err != nil {
			t.Fatal(err)
		}
		if client, err := sarama.NewClient(brokers, cfg); err == nil {
			_ = client.Close()
			t.Errorf("%s: connected", name)
		}
	}
}
