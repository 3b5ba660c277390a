// SPDX-License-Identifier: Apache-2.0

package kms

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/storage"
)

const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

// fields returns the value of a field path of a resource for filtering and
// ordering ("name", "state", "labels.env", "create_time", ...), and false
// for a path the resource does not have.
type fields func(path string) (string, bool)

type listResult[T any] struct {
	items []T
	next  string
	total int
}

// pageToken is the opaque next_page_token: where the next page starts, and
// a digest of the query so that a token is refused with another query.
type pageToken struct {
	After  string `json:"a,omitempty"`
	Offset int    `json:"o,omitempty"`
	Query  string `json:"q"`
}

func queryDigest(parent string, p Page) string {
	h := sha256.Sum256([]byte(parent + "\x00" + p.Filter + "\x00" + p.OrderBy))
	return base64.RawURLEncoding.EncodeToString(h[:8])
}

// decodePageToken reads a page token of the query whose digest is given;
// "" is the first page.
func decodePageToken(s, digest string) (pageToken, error) {
	var tok pageToken
	if s == "" {
		return tok, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &tok) != nil || tok.Query != digest || tok.Offset < 0 {
		return pageToken{}, kmserr.InvalidArgument("page_token", "invalid page token (it must come from the same list call)")
	}
	return tok, nil
}

// maxFilterLen bounds the filter and the order_by of a list call.
const maxFilterLen = 4096

// list pages the records of one kind under parent. Without a filter or an
// order it pages through storage by name, reading only one page; with
// either, it reads every record under parent, filters and sorts them, and
// pages by offset (lists under one parent are small in practice). total is
// the number of matches when it is known (every record was read).
func list[T any](ctx context.Context, s *Service, kind storage.Kind, parent string, p Page, decode func(storage.Record) (T, error), fieldsOf func(T) fields) (listResult[T], error) {
	var res listResult[T]
	size := p.Size
	switch {
	case size < 0:
		return res, kmserr.InvalidArgument("page_size", "must not be negative")
	case size == 0:
		size = defaultPageSize
	case size > maxPageSize:
		size = maxPageSize
	}
	// A filter is checked against every record under the parent: its
	// length bounds what one call costs.
	if len(p.Filter) > maxFilterLen {
		return res, kmserr.InvalidArgument("filter", "is %d bytes; the limit is %d", len(p.Filter), maxFilterLen)
	}
	if len(p.OrderBy) > maxFilterLen {
		return res, kmserr.InvalidArgument("order_by", "is %d bytes; the limit is %d", len(p.OrderBy), maxFilterLen)
	}
	digest := queryDigest(parent, p)
	tok, err := decodePageToken(p.Token, digest)
	if err != nil {
		return res, err
	}
	var zero T
	known := func(path string) bool { _, ok := fieldsOf(zero)(path); return ok }
	filter, err := parseFilter(p.Filter, known)
	if err != nil {
		return res, err
	}
	order, err := parseOrderBy(p.OrderBy, known)
	if err != nil {
		return res, err
	}
	encodeTok := func(t pageToken) string {
		t.Query = digest
		b, _ := json.Marshal(t)
		return base64.RawURLEncoding.EncodeToString(b)
	}

	if filter == nil && order == nil {
		recs, err := s.store.List(ctx, storage.ListOptions{Kind: kind, Parent: parent, After: tok.After, Limit: size + 1})
		if err != nil {
			return res, storeErr(err, "resource", parent)
		}
		if len(recs) > size {
			recs = recs[:size]
			res.next = encodeTok(pageToken{After: recs[size-1].Name})
		} else if tok.After == "" {
			res.total = len(recs)
		}
		for _, r := range recs {
			item, err := decode(r)
			if err != nil {
				return res, err
			}
			res.items = append(res.items, item)
		}
		return res, nil
	}

	recs, err := s.store.List(ctx, storage.ListOptions{Kind: kind, Parent: parent})
	if err != nil {
		return res, storeErr(err, "resource", parent)
	}
	type row struct {
		item T
		f    fields
	}
	var rows []row
	for _, r := range recs {
		item, err := decode(r)
		if err != nil {
			return res, err
		}
		f := fieldsOf(item)
		ok, err := filter.match(f)
		if err != nil {
			return res, err
		}
		if ok {
			rows = append(rows, row{item, f})
		}
	}
	if order != nil {
		slices.SortStableFunc(rows, func(a, b row) int {
			for _, o := range order {
				av, _ := a.f(o.path)
				bv, _ := b.f(o.path)
				if c := strings.Compare(av, bv); c != 0 {
					if o.desc {
						return -c
					}
					return c
				}
			}
			return 0
		})
	}
	res.total = len(rows)
	start := min(tok.Offset, len(rows))
	end := min(start+size, len(rows))
	for _, r := range rows[start:end] {
		res.items = append(res.items, r.item)
	}
	if end < len(rows) {
		res.next = encodeTok(pageToken{Offset: end})
	}
	return res, nil
}

// timeField formats a time so that string order is time order.
func timeField(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000000000Z")
}

// The fields functions accept nil, to tell which paths exist.

func keyRingFields(r *KeyRing) fields {
	if r == nil {
		r = new(KeyRing)
	}
	return func(path string) (string, bool) {
		switch path {
		case "name":
			return r.Name, true
		case "create_time", "createTime":
			return timeField(r.CreateTime), true
		}
		return "", false
	}
}

func cryptoKeyFields(k *CryptoKey) fields {
	if k == nil {
		k = new(CryptoKey)
	}
	return func(path string) (string, bool) {
		switch path {
		case "name":
			return k.Name, true
		case "purpose":
			return string(k.Purpose), true
		case "create_time", "createTime":
			return timeField(k.CreateTime), true
		case "next_rotation_time", "nextRotationTime":
			return timeField(k.NextRotationTime), true
		case "rotation_period", "rotationPeriod":
			if k.RotationPeriod == 0 {
				return "", true
			}
			return strconv.FormatInt(int64(k.RotationPeriod/time.Second), 10) + "s", true
		case "version_template.algorithm", "versionTemplate.algorithm":
			return string(k.Template.Algorithm), true
		case "version_template.protection_level", "versionTemplate.protectionLevel":
			return k.Template.ProtectionLevel, true
		case "import_only", "importOnly":
			return strconv.FormatBool(k.ImportOnly), true
		case "primary.name":
			if k.Primary == 0 {
				return "", true
			}
			return k.Name + "/cryptoKeyVersions/" + strconv.FormatInt(k.Primary, 10), true
		}
		if l, ok := strings.CutPrefix(path, "labels."); ok {
			return k.Labels[l], true
		}
		return "", false
	}
}

func versionFields(v *Version) fields {
	if v == nil {
		v = new(Version)
	}
	return func(path string) (string, bool) {
		switch path {
		case "name":
			return v.Name, true
		case "state":
			return string(v.State), true
		case "algorithm":
			return string(v.Algorithm), true
		case "protection_level", "protectionLevel":
			return v.ProtectionLevel, true
		case "create_time", "createTime":
			return timeField(v.CreateTime), true
		case "destroy_time", "destroyTime":
			return timeField(v.DestroyTime), true
		case "import_job", "importJob":
			return v.ImportJob, true
		}
		return "", false
	}
}
