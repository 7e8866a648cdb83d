package awsiam

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestResolveLineage(t *testing.T) {
	for _, tc := range []struct {
		name     string
		explicit string
		found    []string
		want     string
		err      error
	}{
		{"explicit wins", "shop", []string{"other"}, "shop", nil},
		{"explicit checked", "a:b", nil, "", ErrInvalidLineage},
		{"nothing recorded: derived", "", nil, "t-derived", nil},
		{"one lineage inherited", "", []string{"shop", "shop"}, "shop", nil},
		{"several, derived among them", "", []string{"shop", "t-derived"}, "t-derived", nil},
		{"several, no choice", "", []string{"shop", "blog"}, "", ErrLineageAmbiguous},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ResolveLineage(tc.explicit, tc.found, "t-derived")
			if !errors.Is(err, tc.err) || (tc.err == nil && got != tc.want) {
				t.Errorf("got %q, %v; want %q, %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestDeriveLineageIgnoresOrder(t *testing.T) {
	a := DeriveLineage([]string{"x", "y"})
	if a != DeriveLineage([]string{"y", "x"}) || a == DeriveLineage([]string{"x", "z"}) || ValidLineage(a) != nil {
		t.Errorf("derived %q", a)
	}
}

func TestValidLineage(t *testing.T) {
	for name, ok := range map[string]bool{"shop": true, "t-0123abcd": true, "a.b_c=d+e@f": true, "Shop": false,
		"": false, "a:b": false, "a b": false, "a,b": false, strings.Repeat("x", 64): true, strings.Repeat("x", 65): false} {
		if err := ValidLineage(name); (err == nil) != ok || (err != nil && !errors.Is(err, ErrInvalidLineage)) {
			t.Errorf("%q: %v", name, err)
		}
	}
}

// tagMap applies tags (empty values included) to have, as TagServerCertificate does.
func tagMap(have map[string]string, tags []Tag) map[string]string {
	out := maps.Clone(have)
	if out == nil {
		out = map[string]string{}
	}
	for _, t := range tags {
		out[t.Key] = t.Value
	}
	return out
}

func tagList(m map[string]string) []Tag {
	var out []Tag
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, Tag{k, m[k]})
	}
	return out
}

func TestMergeRecord(t *testing.T) {
	p1, p2, p3 := CertRef("arn:p1"), CertRef("arn:p2"), CertRef("arn:p3")
	for _, tc := range []struct {
		name     string
		old      *Record
		switched map[string]string
		want     map[string]string // listener → predecessor ("": not listed)
	}{
		{"first rotation", nil, map[string]string{"l1": p1, "l2": p2}, map[string]string{"l1": p1, "l2": p2, "zz": ""}},
		{"re-run adds the rest, keeps the first", &Record{Prev: map[string]string{"l1": p1, "l9": p3}},
			map[string]string{"l2": p2}, map[string]string{"l1": p1, "l2": p2, "l9": p3, "zz": ""}},
		{"a listener moved again is recorded anew", &Record{Prev: map[string]string{"l9": p3}},
			map[string]string{"l9": p1}, map[string]string{"l9": p1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.old != nil {
				tc.old.Lineage = "shop"
			}
			r := MergeRecord("shop", tc.old, tc.switched, 2)
			// Round trip through tags, as AWS stores them.
			back := Records(tagList(tagMap(nil, r.Tags())))["shop"]
			for l, p := range tc.want {
				if got := back.Predecessor(l); got != p {
					t.Errorf("%s: predecessor %q, want %q", l, got, p)
				}
			}
		})
	}
}

func TestRecordTagsScale(t *testing.T) {
	p1, p2 := CertRef("arn:p1"), CertRef("arn:p2")
	switched := map[string]string{}
	for i := range 200 {
		p := p1
		if i%4 == 0 {
			p = p2
		}
		switched[fmt.Sprintf("%08x", i)] = p
	}
	tags := MergeRecord("shop", nil, switched, 1).Tags()
	// membership, 150 listeners in lists of 26, 50 in lists of 26.
	if len(tags) != 1+6+2 {
		t.Errorf("%d tags for 200 listeners off two certificates: %v", len(tags), tags)
	}
	for _, tg := range tags {
		if len(tg.Key) > 128 || len(tg.Value) > maxTagValue {
			t.Errorf("tag %q=%q too long", tg.Key, tg.Value)
		}
	}
	rec := Records(tags)["shop"]
	for l, p := range switched {
		if rec.Predecessor(l) != p {
			t.Fatalf("%s: %s, want %s", l, rec.Predecessor(l), p)
		}
	}
	// A later record with fewer lists blanks the ones it no longer needs.
	have := tagMap(nil, tags)
	rec2 := MergeRecord("shop", rec, nil, 1)
	rec2.Prev = map[string]string{"0000000a": p1}
	changes, err := TagChanges(tagList(have), rec2.Tags())
	if err != nil {
		t.Fatal(err)
	}
	after := Records(tagList(tagMap(have, changes)))["shop"]
	if len(after.Prev) != 1 || after.Predecessor("0000000a") != p1 {
		t.Errorf("after %+v", after)
	}
}

func TestTagChanges(t *testing.T) {
	have := []Tag{{"Name", "x"}, {"certup:lineage:shop", "1"}}
	got, err := TagChanges(have, []Tag{{"certup:lineage:shop", "1"}, {"certup:prev:shop", "abc"}})
	if err != nil || len(got) != 1 || got[0].Key != "certup:prev:shop" {
		t.Errorf("%v %v", got, err)
	}
	if got, err := TagChanges(have, have); err != nil || len(got) != 0 {
		t.Errorf("unchanged: %v %v", got, err)
	}
	var many []Tag
	for i := range 49 {
		many = append(many, Tag{fmt.Sprint("k", i), "v"})
	}
	if _, err := TagChanges(many, []Tag{{"a", "1"}, {"b", "2"}}); !errors.Is(err, ErrTooManyTags) {
		t.Errorf("51 tags: %v", err)
	}
}

func TestRecordsIgnoresForeignAndBroken(t *testing.T) {
	recs := Records([]Tag{{"Name", "x"}, {"certup:prev:ghost:1", CertRef("a") + " l1"}, {"certup:lineage:shop", "3"},
		{"certup:prev:shop:1", "short l1"}, {"certup:prev:shop:x", "y"}, {"certup:lineage:bad:name", "1"}})
	if len(recs) != 1 || recs["shop"].Generation != 3 || len(recs["shop"].Prev) != 0 {
		t.Errorf("%+v", recs)
	}
}

// testEpoch is a fixed upload date for prune tables.
var testEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestHold(t *testing.T) {
	e := func(arn string, age int) *PruneEntry {
		return &PruneEntry{ARN: arn, Group: "L", Uploaded: testEpoch.AddDate(0, 0, -age), Action: PruneDelete}
	}
	for _, tc := range []struct {
		name   string
		marked string
		used   string
		want   PruneAction
	}{
		{"rolled back from the newest, an older one serves", "c", "b", PruneHeld},
		{"rolled back from, then a newer one rotated in", "b", "c", PruneDelete},
		{"rolled back from, served by nothing newer", "b", "a", PruneHeld},
	} {
		t.Run(tc.name, func(t *testing.T) {
			entries := []*PruneEntry{e("c", 0), e("b", 1), e("a", 2)}
			entries[slices.IndexFunc(entries, func(x *PruneEntry) bool { return x.ARN == tc.used })].Action = PruneInUse
			hold(entries, map[string]bool{tc.marked: true}, map[string]bool{tc.used: true})
			for _, en := range entries {
				var want PruneAction
				switch en.ARN {
				case tc.marked:
					want = tc.want
				case tc.used:
					want = PruneInUse
				default:
					want = PruneDelete
				}
				if en.Action != want {
					t.Errorf("%s: %s, want %s", en.ARN, en.Action, want)
				}
			}
		})
	}
}

func TestDecidePrune(t *testing.T) {
	e := func(arn, group string, age int) *PruneEntry {
		return &PruneEntry{ARN: arn, Group: group, Uploaded: testEpoch.AddDate(0, 0, -age)}
	}
	for _, tc := range []struct {
		name      string
		entries   []*PruneEntry
		used      []string
		kept      []string
		keep      int
		byLineage bool
		want      map[string]PruneAction
	}{
		{"lineage: served, rollback target, obsolete",
			[]*PruneEntry{e("c", "L", 0), e("b", "L", 1), e("a", "L", 2), e("x", "L", 0)}, []string{"c"}, []string{"b"}, 1, true,
			map[string]PruneAction{"c": PruneInUse, "b": PruneKept, "a": PruneDelete, "x": PruneDelete}},
		{"lineage: no newest-upload rule (Why 1: a newer unused upload does not push the rollback target out)",
			[]*PruneEntry{e("new", "L", 0), e("ec", "L", 1), e("prev", "L", 2)}, []string{"new"}, []string{"prev"}, 1, true,
			map[string]PruneAction{"new": PruneInUse, "prev": PruneKept, "ec": PruneDelete}},
		{"name group: newest unused kept, rollback target kept too",
			[]*PruneEntry{e("n3", "g", 0), e("n2", "g", 1), e("n1", "g", 2), e("n0", "g", 3)}, []string{"n3"}, []string{"n0"}, 1, false,
			map[string]PruneAction{"n3": PruneInUse, "n2": PruneKept, "n1": PruneDelete, "n0": PruneKept}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set := func(l []string) map[string]bool {
				m := map[string]bool{}
				for _, x := range l {
					m[x] = true
				}
				return m
			}
			decidePrune(tc.entries, set(tc.used), set(tc.kept), tc.keep, tc.byLineage)
			for _, en := range tc.entries {
				if en.Action != tc.want[en.ARN] {
					t.Errorf("%s: %s, want %s", en.ARN, en.Action, tc.want[en.ARN])
				}
			}
		})
	}
}
