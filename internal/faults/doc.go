// Package faults holds the end-to-end fault test of ofs past one machine
// (issue 17): three Kafka brokers, three ingest processes and two feature
// servers as real processes on loopback, faults injected while events flow
// and a client calls Retrieve. It has no code of its own, only its test.
package faults
