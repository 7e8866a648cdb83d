package awsiam

import (
	"context"
	"errors"
	"slices"
	"testing"
)

// fakePages stands for an SDK paginator: pages in order, then err (if any)
// on the call after the last page.
type fakePages struct {
	pages [][]int
	err   error
	calls int
}

type fakeOptions struct{}

func (f *fakePages) HasMorePages() bool {
	return f.calls < len(f.pages) || f.err != nil && f.calls == len(f.pages)
}

func (f *fakePages) NextPage(context.Context, ...func(*fakeOptions)) ([]int, error) {
	f.calls++
	if f.calls > len(f.pages) {
		return nil, f.err
	}
	return f.pages[f.calls-1], nil
}

func TestPageItems(t *testing.T) {
	collect := func(f *fakePages, stopAt int) (got []int, errs []error) {
		for v, err := range pageItems(context.Background(), f.HasMorePages, f.NextPage, func(p []int) []int { return p }, "listing things") {
			if err != nil {
				errs = append(errs, err)
				continue
			}
			got = append(got, *v)
			if *v == stopAt {
				break
			}
		}
		return got, errs
	}

	f := &fakePages{pages: [][]int{{1, 2}, {}, {3}}}
	if got, errs := collect(f, -1); !slices.Equal(got, []int{1, 2, 3}) || errs != nil {
		t.Errorf("three pages: %v %v", got, errs)
	}

	boom := errors.New("throttled")
	f = &fakePages{pages: [][]int{{1}, {2}}, err: boom}
	got, errs := collect(f, -1)
	if !slices.Equal(got, []int{1, 2}) || len(errs) != 1 || !errors.Is(errs[0], boom) || errs[0].Error() != "listing things: throttled" {
		t.Errorf("error after two pages: %v %v", got, errs)
	}

	f = &fakePages{pages: [][]int{{1, 2}, {3}}}
	if got, _ := collect(f, 2); !slices.Equal(got, []int{1, 2}) || f.calls != 1 {
		t.Errorf("stopping early: %v after %d page calls, want [1 2] after 1", got, f.calls)
	}
}
