package topics

import (
	"crypto/tls"
	"fmt"
	"strings"

	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"
)

// The SASL mechanisms ofs speaks to Kafka.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// Security is how ofs's Kafka clients reach a cluster that is not on a
// trusted network: TLS (with a client certificate for mutual TLS when the
// configuration has one) and SASL, as managed Kafka services require. The
// zero value is plain text without authentication.
type Security struct {
	TLS  *tls.Config // nil: plain text
	SASL SASL
}

// SASL is the user ofs authenticates as; an empty Mechanism turns SASL off.
type SASL struct {
	Mechanism string // PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
	Username  string
	Password  string
}

// Check reports a SASL setting that cannot work.
func (s SASL) Check() error {
	switch strings.ToUpper(s.Mechanism) {
	case "":
		if s.Username != "" || s.Password != "" {
			return fmt.Errorf("kafka sasl: a username or password without a mechanism (%s, %s or %s)", SASLPlain, SASLScramSHA256, SASLScramSHA512)
		}
		return nil
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
		if s.Username == "" {
			return fmt.Errorf("kafka sasl: %s needs a username", s.Mechanism)
		}
		return nil
	}
	return fmt.Errorf("kafka sasl: mechanism %q is not %s, %s or %s", s.Mechanism, SASLPlain, SASLScramSHA256, SASLScramSHA512)
}

// Apply sets cfg to connect with s.
func (s Security) Apply(cfg *sarama.Config) error {
	if err := s.SASL.Check(); err != nil {
		return err
	}
	if s.TLS != nil {
		cfg.Net.TLS.Enable = true
		cfg.Net.TLS.Config = s.TLS.Clone()
	}
	mech := strings.ToUpper(s.SASL.Mechanism)
	if mech == "" {
		return nil
	}
	cfg.Net.SASL.Enable = true
	cfg.Net.SASL.Handshake = true
	cfg.Net.SASL.User = s.SASL.Username
	cfg.Net.SASL.Password = s.SASL.Password
	switch mech {
	case SASLPlain:
		cfg.Net.SASL.Mechanism = sarama.SASLTypePlaintext
	case SASLScramSHA256:
		cfg.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA256
		cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: scram.SHA256} }
	case SASLScramSHA512:
		cfg.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
		cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: scram.SHA512} }
	}
	return nil
}

// scramClient adapts xdg-go/scram, the SCRAM implementation sarama's own
// documentation points to, to sarama.SCRAMClient.
type scramClient struct {
	hash scram.HashGeneratorFcn
	conv *scram.ClientConversation
}

func (c *scramClient) Begin(user, password, authzID string) error {
	client, err := c.hash.NewClient(user, password, authzID)
	if err != nil {
		return err
	}
	c.conv = client.NewConversation()
	return nil
}

func (c *scramClient) Step(challenge string) (string, error) { return c.conv.Step(challenge) }

func (c *scramClient) Done() bool { return c.conv.Done() }
