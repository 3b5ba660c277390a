// SPDX-License-Identifier: Apache-2.0

package rest

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"testing"

	"cloud.google.com/go/kms/apiv1/kmspb"
)

// benchKMS answers Encrypt with a fixed response, so that the benchmark
// measures the REST layer only.
type benchKMS struct {
	kmspb.UnimplementedKeyManagementServiceServer
	resp *kmspb.EncryptResponse
}

func (b *benchKMS) Encrypt(context.Context, *kmspb.EncryptRequest) (*kmspb.EncryptResponse, error) {
	return b.resp, nil
}

// rewindBody is a request body that can be reset without allocating.
type rewindBody struct{ bytes.Reader }

func (*rewindBody) Close() error { return nil }

// discardWriter is a ResponseWriter that keeps one header map.
type discardWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *discardWriter) Header() http.Header  { return w.h }
func (w *discardWriter) WriteHeader(code int) { w.code = code }
func (w *discardWriter) Write(b []byte) (int, error) {
	w.n += len(b)
	return len(b), nil
}

// BenchmarkEncrypt is the REST hot path: route, decode a 32-byte Encrypt as
// the official Go client sends it, call, encode.
func BenchmarkEncrypt(b *testing.B) {
	plaintext := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x42}, 32))
	body := []byte(`{"name":"` + key + `","plaintext":"` + plaintext + `"}`)
	h := newHandler(b, Config{KMS: &benchKMS{resp: &kmspb.EncryptResponse{
		Name:            key + "/cryptoKeyVersions/1",
		Ciphertext:      bytes.Repeat([]byte{0x17}, 32+28+40),
		ProtectionLevel: kmspb.ProtectionLevel_SOFTWARE,
	}}})
	u, err := url.ParseRequestURI("/v1/" + key + ":encrypt?%24alt=json%3Benum-encoding%3Dint")
	if err != nil {
		b.Fatal(err)
	}
	rb := &rewindBody{}
	r := (&http.Request{Method: "POST", URL: u, Header: http.Header{}, Body: rb, ContentLength: int64(len(body))}).
		WithContext(context.Background())
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		rb.Reset(body)
		w.code = 0
		h.ServeHTTP(w, r)
		if w.code != http.StatusOK {
			b.Fatalf("Encrypt = %d", w.code)
		}
	}
}
