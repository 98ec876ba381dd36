package sqlite

import (
	"encoding/json"
	"fmt"
	"time"
)

// msArg encodes t as Unix milliseconds, and the zero time as NULL.
func msArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

// timeCol scans what msArg stored.
type timeCol struct{ t *time.Time }

func (c timeCol) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*c.t = time.Time{}
	case int64:
		*c.t = time.UnixMilli(v).UTC()
	default:
		return fmt.Errorf("time column holds %T", v)
	}
	return nil
}

// listArg encodes a slice as JSON text: "null" for nil, "[]" for empty.
func listArg(s []string) string {
	b, _ := json.Marshal(s) // a []string always marshals
	return string(b)
}

// listCol scans what listArg stored.
type listCol struct{ s *[]string }

func (c listCol) Scan(v any) error {
	var b []byte
	switch v := v.(type) {
	case nil:
		*c.s = nil
		return nil
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("list column holds %T", v)
	}
	var s []string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("list column: %w", err)
	}
	*c.s = s
	return nil
}

// durationArg encodes an optional duration as nanoseconds, nil as NULL.
func durationArg(d *time.Duration) any {
	if d == nil {
		return nil
	}
	return int64(*d)
}

// durationCol scans what durationArg stored.
type durationCol struct{ d **time.Duration }

func (c durationCol) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*c.d = nil
	case int64:
		d := time.Duration(v)
		*c.d = &d
	default:
		return fmt.Errorf("duration column holds %T", v)
	}
	return nil
}

// textArg stores "" as NULL, for optional unique columns.
func textArg(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// textCol scans what textArg stored.
type textCol struct{ s *string }

func (c textCol) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*c.s = ""
	case string:
		*c.s = v
	case []byte:
		*c.s = string(v)
	default:
		return fmt.Errorf("text column holds %T", v)
	}
	return nil
}
