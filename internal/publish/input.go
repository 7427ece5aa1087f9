// Package publish is the work of `ofs publish`: it reads events, JSON
// lines (one event a line) or CSV rows of one feature group converted to
// protobuf events, and produces them to the features topic (Publisher),
// each checked against the registry first. A bad line is an Item with Err
// set; reading goes on after it.
package publish

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/ofstack/ofs/internal/events"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/topics"
)

// Item is one event read from the input, or the reason its line cannot be
// one.
type Item struct {
	Line        int
	Value       []byte
	Key         string // "" when the reader does not know it
	ContentType string
	Offset      int64 // input bytes consumed up to the end of this item
	Err         error
}

// Reader reads events one at a time; Next returns io.EOF at the end. An
// item with Err set is a bad line, and reading goes on after it.
type Reader interface {
	Next() (Item, error)
}

// GuessJSONKey makes the message key of an event that did not validate,
// from whatever of entity, feature_group and keys it has: key values in the
// entity's key-column order when the registry knows the entity, else by
// name. It returns "" when the line is not a JSON object with an entity.
func GuessJSONKey(snap *schema.Snapshot, value []byte) string {
	var ev struct {
		Entity string                     `json:"entity"`
		Group  string                     `json:"feature_group"`
		Keys   map[string]json.RawMessage `json:"keys"`
	}
	if json.Unmarshal(value, &ev) != nil || ev.Entity == "" {
		return ""
	}
	var names []string
	if e, ok := snap.Entity(ev.Entity); ok {
		names = keyNamesOf(e)
	} else {
		names = slices.Sorted(maps.Keys(ev.Keys))
	}
	vals := make([]string, len(names))
	for i, n := range names {
		raw := ev.Keys[n]
		var s string
		if json.Unmarshal(raw, &s) != nil {
			s = string(bytes.TrimSpace(raw))
		}
		vals[i] = s
	}
	return topics.FeatureKey(ev.Entity, ev.Group, vals...)
}

// jsonLinesReader reads one JSON event per line.
type jsonLinesReader struct {
	sc     *bufio.Scanner
	line   int
	offset int64
}

// NewJSONLinesReader reads one JSON event a line; blank lines are skipped,
// and a line longer than the largest event is an error.
func NewJSONLinesReader(r io.Reader) Reader {
	sc := bufio.NewScanner(r)
	// A line may be as long as the largest event, plus its newline.
	sc.Buffer(make([]byte, 0, 64<<10), events.DefaultMaxBytes+2)
	return &jsonLinesReader{sc: sc}
}

func (r *jsonLinesReader) Next() (Item, error) {
	for r.sc.Scan() {
		r.line++
		b := r.sc.Bytes()
		r.offset += int64(len(b)) + 1
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			continue
		}
		return Item{Line: r.line, Value: bytes.Clone(b), ContentType: topics.ContentTypeJSON, Offset: r.offset}, nil
	}
	if err := r.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			err = fmt.Errorf("a line is longer than the largest event (%d bytes)", events.DefaultMaxBytes)
		}
		return Item{Line: r.line + 1}, err
	}
	return Item{}, io.EOF
}

// csvReader reads one event per CSV row.
type csvReader struct {
	r    *csv.Reader
	conv *csvConverter
}

// NewCSVReader reads CSV rows of group of entity as protobuf events: the
// header names key columns, features and optionally event_time, whose
// numbers are in unit; a row that does not convert is an Item with Err set.
func NewCSVReader(in io.Reader, snap *schema.Snapshot, entity, group string, unit time.Duration) (Reader, error) {
	r := csv.NewReader(bufio.NewReaderSize(in, 64<<10))
	r.ReuseRecord = true
	r.FieldsPerRecord = 0 // every row as wide as the header
	header, err := r.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("csv: the input is empty; it needs a header row")
		}
		return nil, fmt.Errorf("csv header: %w", err)
	}
	conv, err := newCSVConverter(snap, entity, group, header, unit)
	if err != nil {
		return nil, err
	}
	return &csvReader{r: r, conv: conv}, nil
}

func (c *csvReader) Next() (Item, error) {
	rec, err := c.r.Read()
	if errors.Is(err, io.EOF) {
		return Item{}, io.EOF
	}
	line, _ := c.r.FieldPos(0)
	it := Item{Line: line, Offset: c.r.InputOffset(), ContentType: topics.ContentTypeProtobuf}
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) && errors.Is(pe.Err, csv.ErrFieldCount) {
			it.Line = pe.Line
			it.Err = fmt.Errorf("the row has %d fields, the header %d", len(rec), len(c.conv.cols))
			return it, nil
		}
		return it, fmt.Errorf("csv: %w", err)
	}
	ev, keyValues, err := c.conv.convert(line, rec)
	if err != nil {
		it.Err = err
		return it, nil
	}
	if it.Value, err = proto.Marshal(ev); err != nil {
		it.Err = err
		return it, nil
	}
	it.Key = topics.FeatureKey(c.conv.entity.Name, c.conv.group.Name, keyValues...)
	return it, nil
}
