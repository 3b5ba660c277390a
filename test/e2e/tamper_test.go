// SPDX-License-Identifier: Apache-2.0

package e2e

import (
	"bytes"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"

	_ "modernc.org/sqlite"
)

// openStore opens the data folder's SQLite file of a stopped server.
func openStore(t *testing.T, dir string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, "custos.db"))
	if err != nil {
		t.Fatalf("sql.Open(custos.db) = %v", err)
	}
	t.Cleanup(func() { db.Close() })
	// The tests below rely on this layout; say so plainly if it changed.
	rows, err := db.Query("SELECT name FROM pragma_table_info('records') ORDER BY cid")
	if err != nil {
		t.Fatalf("reading the schema of custos.db: %v", err)
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"name", "kind", "parent", "due", "rev", "data", "mac"}, cols); diff != "" {
		t.Fatalf("custos.db table records has columns %v (-want +got):\n%s", cols, diff)
	}
	return db
}

func readRecord(t *testing.T, db *sql.DB, name string) (data, mac []byte) {
	t.Helper()
	if err := db.QueryRow("SELECT data, mac FROM records WHERE name = ?", name).Scan(&data, &mac); err != nil {
		t.Fatalf("reading record %s: %v", name, err)
	}
	return data, mac
}

func writeRecord(t *testing.T, db *sql.DB, name string, data, mac []byte) {
	t.Helper()
	res, err := db.Exec("UPDATE records SET data = ?, mac = ? WHERE name = ?", data, mac, name)
	if err != nil {
		t.Fatalf("writing record %s: %v", name, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("writing record %s changed %d rows, want 1", name, n)
	}
}

// tamperFixture is what each tamper case creates before the server stops.
type tamperFixture struct {
	ring      string
	victim    string // a key with labels team=alpha, versions 1 and 2, primary 2
	ct1, ct2  []byte // ciphertexts of victim versions 1 and 2
	bystander string // an untouched key in the same ring
	ctB       []byte
}

var tamperPlaintext = []byte("tamper-evident")

func makeTamperFixture(t *testing.T, s *server) tamperFixture {
	t.Helper()
	c := s.grpcClient(t)
	ctx := testContext(t)
	ring, err := c.CreateKeyRing(ctx, &kmspb.CreateKeyRingRequest{Parent: "projects/tamper/locations/global", KeyRingId: "r"})
	if err != nil {
		t.Fatalf("CreateKeyRing = %v", err)
	}
	e := &apiEnv{c: c, ring: ring.GetName()}
	f := tamperFixture{ring: ring.GetName()}
	f.victim = e.createKey(t, ctx, "victim", &kmspb.CryptoKey{Purpose: encryptDecrypt, Labels: map[string]string{"team": "alpha"}}, false).GetName()
	f.ct1 = e.encrypt(t, ctx, f.victim, tamperPlaintext, nil).GetCiphertext()
	if _, err := c.CreateCryptoKeyVersion(ctx, &kmspb.CreateCryptoKeyVersionRequest{Parent: f.victim}); err != nil {
		t.Fatalf("CreateCryptoKeyVersion = %v", err)
	}
	if _, err := c.UpdateCryptoKeyPrimaryVersion(ctx, &kmspb.UpdateCryptoKeyPrimaryVersionRequest{Name: f.victim, CryptoKeyVersionId: "2"}); err != nil {
		t.Fatalf("UpdateCryptoKeyPrimaryVersion = %v", err)
	}
	f.ct2 = e.encrypt(t, ctx, f.victim, tamperPlaintext, nil).GetCiphertext()
	f.bystander = e.createKey(t, ctx, "bystander", symmetricKey(), false).GetName()
	f.ctB = e.encrypt(t, ctx, f.bystander, tamperPlaintext, nil).GetCiphertext()
	return f
}

// flipMaterialBit flips one bit of the sealed material inside a version
// record's JSON, leaving every other byte (and the MAC) as it was.
func flipMaterialBit(t *testing.T, data []byte) []byte {
	t.Helper()
	var v struct {
		Material []byte `json:"material"`
	}
	if err := json.Unmarshal(data, &v); err != nil || len(v.Material) == 0 {
		t.Fatalf("version record %s has no material field (%v)", data, err)
	}
	old := base64.StdEncoding.EncodeToString(v.Material)
	if bytes.Count(data, []byte(old)) != 1 {
		t.Fatalf("the material's base64 %q is not found exactly once in %s", old, data)
	}
	m := bytes.Clone(v.Material)
	m[len(m)/2] ^= 0x01
	return bytes.Replace(data, []byte(old), []byte(base64.StdEncoding.EncodeToString(m)), 1)
}

// TestTamperedStoreIsDetected edits the store of a stopped server and checks
// that the next server refuses the edited records with DATA_LOSS, keeps
// serving everything else, and never crashes.
func TestTamperedStoreIsDetected(t *testing.T) {
	t.Parallel()
	type outcome int
	const (
		works outcome = iota
		dataLoss
	)
	cases := []struct {
		name   string
		tamper func(t *testing.T, db *sql.DB, f tamperFixture)
		// What happens to each call on the victim after the restart.
		getKey, encrypt, decrypt1, decrypt2, getV1, getV2 outcome
	}{
		{
			name: "one byte of a crypto key's label",
			tamper: func(t *testing.T, db *sql.DB, f tamperFixture) {
				data, mac := readRecord(t, db, f.victim)
				if bytes.Count(data, []byte(`"alpha"`)) != 1 {
					t.Fatalf("key record %s does not hold the label value once: %s", f.victim, data)
				}
				writeRecord(t, db, f.victim, bytes.Replace(data, []byte(`"alpha"`), []byte(`"alphb"`), 1), mac)
			},
			getKey: dataLoss, encrypt: dataLoss, decrypt1: dataLoss, decrypt2: dataLoss, getV1: works, getV2: works,
		},
		{
			name: "one bit of a version's sealed material",
			tamper: func(t *testing.T, db *sql.DB, f tamperFixture) {
				v1 := versionName(f.victim, 1)
				data, mac := readRecord(t, db, v1)
				writeRecord(t, db, v1, flipMaterialBit(t, data), mac)
			},
			getKey: works, encrypt: works, decrypt1: dataLoss, decrypt2: works, getV1: dataLoss, getV2: works,
		},
		{
			name: "two versions' data and MACs swapped",
			tamper: func(t *testing.T, db *sql.DB, f tamperFixture) {
				v1, v2 := versionName(f.victim, 1), versionName(f.victim, 2)
				d1, m1 := readRecord(t, db, v1)
				d2, m2 := readRecord(t, db, v2)
				writeRecord(t, db, v1, d2, m2)
				writeRecord(t, db, v2, d1, m1)
			},
			getKey: dataLoss, encrypt: dataLoss, decrypt1: dataLoss, decrypt2: dataLoss, getV1: dataLoss, getV2: dataLoss,
		},
		{
			name: "two versions' data swapped, MACs left",
			tamper: func(t *testing.T, db *sql.DB, f tamperFixture) {
				v1, v2 := versionName(f.victim, 1), versionName(f.victim, 2)
				d1, m1 := readRecord(t, db, v1)
				d2, m2 := readRecord(t, db, v2)
				writeRecord(t, db, v1, d2, m1)
				writeRecord(t, db, v2, d1, m2)
			},
			getKey: dataLoss, encrypt: dataLoss, decrypt1: dataLoss, decrypt2: dataLoss, getV1: dataLoss, getV2: dataLoss,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s1 := startServerIn(t, dir)
			f := makeTamperFixture(t, s1)
			if err := s1.stop(t); err != nil {
				t.Fatalf("custos after SIGTERM exited with %v, want status 0", err)
			}
			db := openStore(t, dir)
			tc.tamper(t, db, f)
			if err := db.Close(); err != nil {
				t.Fatalf("closing custos.db: %v", err)
			}

			s2 := startServerIn(t, dir)
			for _, c := range s2.clients(t) {
				t.Run(c.name, func(t *testing.T) {
					ctx := testContext(t)
					check := func(call string, want outcome, err error, got []byte, wantData []byte) {
						t.Helper()
						switch {
						case want == works && err != nil:
							t.Errorf("%s = %v, want success (this record was not touched)", call, err)
						case want == works && wantData != nil && !bytes.Equal(got, wantData):
							t.Errorf("%s = %q, want %q", call, got, wantData)
						case want == dataLoss && err == nil:
							t.Errorf("%s succeeded (returned %q) on a tampered record, want DataLoss", call, got)
						case want == dataLoss:
							wantCode(t, call, err, codes.DataLoss)
						}
					}
					decrypt := func(key string, ct []byte) ([]byte, error) {
						resp, err := c.kms.Decrypt(ctx, &kmspb.DecryptRequest{Name: key, Ciphertext: ct})
						return resp.GetPlaintext(), err
					}

					k, err := c.kms.GetCryptoKey(ctx, &kmspb.GetCryptoKeyRequest{Name: f.victim})
					check("GetCryptoKey(victim)", tc.getKey, err, []byte(k.GetLabels()["team"]), []byte("alpha"))
					enc, err := c.kms.Encrypt(ctx, &kmspb.EncryptRequest{Name: f.victim, Plaintext: tamperPlaintext})
					check("Encrypt(victim)", tc.encrypt, err, enc.GetCiphertext(), nil)
					got, err := decrypt(f.victim, f.ct1)
					check("Decrypt(victim, ciphertext of version 1)", tc.decrypt1, err, got, tamperPlaintext)
					got, err = decrypt(f.victim, f.ct2)
					check("Decrypt(victim, ciphertext of version 2)", tc.decrypt2, err, got, tamperPlaintext)
					for i, want := range []outcome{tc.getV1, tc.getV2} {
						name := versionName(f.victim, i+1)
						v, err := c.kms.GetCryptoKeyVersion(ctx, &kmspb.GetCryptoKeyVersionRequest{Name: name})
						check("GetCryptoKeyVersion("+name+")", want, err, []byte(v.GetName()), []byte(name))
					}

					// A listing never shows tampered content: it fails, or it
					// leaves the record out.
					var listed []string
					it := c.kms.ListCryptoKeys(ctx, &kmspb.ListCryptoKeysRequest{Parent: f.ring})
					for {
						k, err := it.Next()
						if err == iterator.Done {
							break
						}
						if err != nil {
							wantCode(t, "ListCryptoKeys(ring with a tampered record)", err, codes.DataLoss)
							break
						}
						listed = append(listed, k.GetName())
						if v := k.GetLabels()["team"]; v != "" && v != "alpha" {
							t.Errorf("ListCryptoKeys returned the tampered label team=%q", v)
						}
					}
					if tc.getKey == works && tc.getV2 == works && !slices.Contains(listed, f.victim) {
						t.Errorf("ListCryptoKeys(%s) = %v, want it to include %s (its key record and primary are intact)", f.ring, listed, f.victim)
					}

					// Everything else keeps working.
					if _, err := c.kms.GetKeyRing(ctx, &kmspb.GetKeyRingRequest{Name: f.ring}); err != nil {
						t.Errorf("GetKeyRing(%s) = %v, want success", f.ring, err)
					}
					if _, err := c.kms.GetCryptoKey(ctx, &kmspb.GetCryptoKeyRequest{Name: f.bystander}); err != nil {
						t.Errorf("GetCryptoKey(bystander) = %v, want success", err)
					}
					got, err = decrypt(f.bystander, f.ctB)
					check("Decrypt(bystander)", works, err, got, tamperPlaintext)
					if _, err := c.kms.GenerateRandomBytes(ctx, &kmspb.GenerateRandomBytesRequest{Location: "projects/tamper/locations/global", LengthBytes: 16}); err != nil {
						t.Errorf("GenerateRandomBytes after the tampered calls = %v, want success", err)
					}
				})
			}
			if !s2.alive() {
				t.Fatalf("custos exited while serving a tampered store: %v", s2.waitErr)
			}
			if err := s2.stop(t); err != nil {
				t.Errorf("custos with a tampered store exited with %v after SIGTERM, want status 0", err)
			}
			if out := s2.output.String(); strings.Contains(out, "panic:") || strings.Contains(out, "goroutine ") {
				t.Errorf("custos output shows a panic:\n%s", out)
			}
		})
	}
}
