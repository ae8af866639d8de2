package cinder

import (
	"context"

	"github.com/gophercloud/gophercloud/v2/pagination"
)

// firstPage fetches only the first page of pager and returns its items and the
// marker of the next page: the last item's ID when Cinder says there is more (a
// "next" link) or when the page came back full. A full last page thus yields one
// more, empty, request; missing items would be worse.
func firstPage[T any](ctx context.Context, pager pagination.Pager, limit int,
	extract func(pagination.Page) ([]T, error), id func(T) string,
) ([]T, string, error) {
	var items []T
	var more bool
	err := pager.EachPage(ctx, func(_ context.Context, page pagination.Page) (bool, error) {
		var err error
		if items, err = extract(page); err != nil {
			return false, err
		}
		next, err := page.NextPageURL()
		if err != nil {
			return false, err
		}
		more = next != "" || (limit > 0 && len(items) >= limit)
		return false, nil // one page only
	})
	if err != nil {
		return nil, "", err
	}
	if !more || len(items) == 0 {
		return items, "", nil
	}
	return items, id(items[len(items)-1]), nil
}
