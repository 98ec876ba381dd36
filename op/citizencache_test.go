package op

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/dopaid/dopaid/storage"
)

// countingRegistry answers Citizen from a map and counts the reads.
type countingRegistry struct {
	records map[string]storage.Citizen
	reads   int
	fail    error
	during  func() // called inside a read, after the record is taken
}

func (r *countingRegistry) Citizen(_ context.Context, id string) (storage.Citizen, error) {
	r.reads++
	if r.fail != nil {
		return storage.Citizen{}, r.fail
	}
	c, ok := r.records[id]
	if r.during != nil {
		r.during()
	}
	if !ok {
		return storage.Citizen{}, fmt.Errorf("citizen %q: %w", id, storage.ErrNotFound)
	}
	return c, nil
}

func TestCitizenCache(t *testing.T) {
	ctx := context.Background()
	name := func(last string) storage.Citizen {
		return storage.Citizen{ID: "c1", NameTH: storage.Name{First: "สมชาย", Last: last}}
	}
	newCache := func(ttl time.Duration) (*countingRegistry, *recordCache[string, storage.Citizen]) {
		reg := &countingRegistry{records: map[string]storage.Citizen{"c1": name("ใจดี"), "c2": {ID: "c2"}}}
		return reg, newRegistryCache(reg, ttl)
	}
	get := func(t *testing.T, cc *recordCache[string, storage.Citizen], id string) storage.Citizen {
		t.Helper()
		c, err := cc.get(ctx, id)
		if err != nil {
			t.Fatalf("get %s: %v", id, err)
		}
		return c
	}

	t.Run("a fresh entry is served without a read", func(t *testing.T) {
		reg, cc := newCache(time.Hour)
		get(t, cc, "c1")
		get(t, cc, "c1")
		if reg.reads != 1 {
			t.Errorf("%d reads for two gets within the lifetime, want 1", reg.reads)
		}
	})
	t.Run("an entry older than the lifetime is read again", func(t *testing.T) {
		reg, cc := newCache(20 * time.Millisecond)
		get(t, cc, "c1")
		reg.records["c1"] = name("ใจงาม")
		time.Sleep(30 * time.Millisecond)
		if got := get(t, cc, "c1").NameTH.Last; got != "ใจงาม" {
			t.Errorf("after the lifetime: %q, want the new record", got)
		}
	})
	t.Run("invalidate drops the citizen's entry, and only theirs", func(t *testing.T) {
		reg, cc := newCache(time.Hour)
		get(t, cc, "c1")
		get(t, cc, "c2")
		reg.records["c1"] = name("ใจงาม")
		cc.invalidate("c1")
		if got := get(t, cc, "c1").NameTH.Last; got != "ใจงาม" {
			t.Errorf("after invalidate: %q, want the new record", got)
		}
		get(t, cc, "c2")
		if reg.reads != 3 {
			t.Errorf("%d reads, want 3 (c2 stays cached)", reg.reads)
		}
		cc.invalidate("")
		get(t, cc, "c2")
		if reg.reads != 4 {
			t.Errorf("%d reads after invalidating all, want 4", reg.reads)
		}
	})
	t.Run("a read that overlaps an invalidation is not kept", func(t *testing.T) {
		reg, cc := newCache(time.Hour)
		reg.during = func() { cc.invalidate("c1") } // the change lands while the old record is on its way
		get(t, cc, "c1")
		reg.during = nil
		reg.records["c1"] = name("ใจงาม")
		if got := get(t, cc, "c1").NameTH.Last; got != "ใจงาม" {
			t.Errorf("the record read across an invalidation was kept: %q", got)
		}
	})
	t.Run("not found is cached, other errors are not", func(t *testing.T) {
		reg, cc := newCache(time.Hour)
		for range 2 {
			if _, err := cc.get(ctx, "nobody"); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("unknown citizen: %v, want ErrNotFound", err)
			}
		}
		if reg.reads != 1 {
			t.Errorf("%d reads for an unknown citizen asked twice, want 1", reg.reads)
		}
		reg.fail = errors.New("database down")
		for range 2 {
			if _, err := cc.get(ctx, "c1"); err == nil {
				t.Fatal("a failed read answered no error")
			}
		}
		if reg.reads != 3 {
			t.Errorf("%d reads, want 3: a failure is not cached", reg.reads)
		}
	})
	t.Run("expired records leave memory", func(t *testing.T) {
		// Personal data: an entry must not outlive its use by much, even
		// when nobody asks for anything again.
		_, cc := newCache(20 * time.Millisecond)
		get(t, cc, "c1")
		time.Sleep(15 * time.Millisecond)
		get(t, cc, "c2")
		deadline := time.Now().Add(10 * time.Second)
		for {
			cc.mu.Lock()
			n, sweeping := len(cc.entries), cc.sweeping
			cc.mu.Unlock()
			if n == 0 && !sweeping {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d entries still held long after their lifetime", n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	t.Run("the map is bounded", func(t *testing.T) {
		_, cc := newCache(time.Hour)
		cc.max = 3
		for i := range 5 {
			if _, err := cc.get(ctx, fmt.Sprint("x", i)); !errors.Is(err, storage.ErrNotFound) {
				t.Fatal(err)
			}
		}
		cc.mu.Lock()
		n := len(cc.entries)
		cc.mu.Unlock()
		if n > 3 {
			t.Errorf("%d entries, want at most 3", n)
		}
	})
}
