// SPDX-License-Identifier: Apache-2.0

// The scenario that grpc.test.mjs and rest.test.mjs run through the official
// @google-cloud/kms client, once per transport, against the server that
// test/e2e/node_test.go started. The tests of one transport run in order and
// share the key ring and keys they create.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';

import { TIMEOUT, crc32c, grpcClient, int64, restClient, show, sleep, transport } from './helpers.mjs';

// Codes of google.rpc.Code.
const INVALID_ARGUMENT = 3;
const NOT_FOUND = 5;
const UNAUTHENTICATED = 16;

export function defineSuite(name) {
  describe(`@google-cloud/kms over ${name}`, { timeout: TIMEOUT }, () => {
    let t;
    let ring;
    const keys = {};
    const opts = { timeout: TIMEOUT };

    before(() => {
      t = transport(name);
    });
    after(async () => {
      await t?.client.close();
    });

    // createRing creates a key ring the way the official samples do:
    // createKeyRing({parent, keyRingId}), with no keyRing. Over REST,
    // google-gax sends an empty body field as the JSON text "" (see
    // transcoding.js: `data = ''`, then fallbackRest.js JSON.stringify). If
    // the server refuses that, the ring is created again with a keyRing that
    // is not empty ({name: ''}, which the server ignores) so that the rest
    // of the scenario still runs, and the refusal is returned to be
    // asserted on.
    async function createRing(id) {
      const req = { parent: t.location, keyRingId: id };
      try {
        return { ring: await t.call('createKeyRing', req) };
      } catch (err) {
        const ring = await t.call('createKeyRing', { ...req, keyRing: { name: '' } });
        return { ring, failure: err };
      }
    }

    test('createKeyRing({parent, keyRingId}) as the samples call it', opts, async () => {
      const { ring: r, failure } = await createRing('ring-a');
      ring = r.name;
      assert.equal(ring, `${t.location}/keyRings/ring-a`);
      assert.ok(Number(r.createTime?.seconds) > 0, `createTime ${show(r.createTime)}`);
      if (failure) throw failure;
    });

    test('getKeyRing', opts, async () => {
      const r = await t.call('getKeyRing', { name: ring });
      assert.equal(r.name, ring);
      assert.ok(Number(r.createTime?.seconds) > 0);
    });

    test('listKeyRings through the async iterator, one per page', opts, async () => {
      await createRing('ring-b');
      await createRing('ring-c');
      const names = [];
      for await (const r of t.client.listKeyRingsAsync({ parent: t.location, pageSize: 1 })) {
        names.push(r.name);
      }
      assert.deepEqual(names.sort(), ['ring-a', 'ring-b', 'ring-c'].map(id => `${t.location}/keyRings/${id}`));
    });

    test('createCryptoKey ENCRYPT_DECRYPT with the default algorithm', opts, async () => {
      const k = await t.call('createCryptoKey', {
        parent: ring,
        cryptoKeyId: 'sym',
        cryptoKey: { purpose: 'ENCRYPT_DECRYPT' },
      });
      keys.sym = k.name;
      assert.equal(k.name, `${ring}/cryptoKeys/sym`);
      assert.equal(k.purpose, 'ENCRYPT_DECRYPT');
      assert.equal(k.versionTemplate?.algorithm, 'GOOGLE_SYMMETRIC_ENCRYPTION');
      assert.equal(k.primary?.name, `${k.name}/cryptoKeyVersions/1`);
      assert.equal(k.primary?.state, 'ENABLED');
      assert.equal(k.primary?.algorithm, 'GOOGLE_SYMMETRIC_ENCRYPTION');
    });

    test('createCryptoKey ASYMMETRIC_SIGN EC_SIGN_P256_SHA256', opts, async () => {
      const k = await t.call('createCryptoKey', {
        parent: ring,
        cryptoKeyId: 'ec',
        cryptoKey: { purpose: 'ASYMMETRIC_SIGN', versionTemplate: { algorithm: 'EC_SIGN_P256_SHA256' } },
      });
      keys.ec = k.name;
      assert.equal(k.purpose, 'ASYMMETRIC_SIGN');
      assert.equal(k.versionTemplate?.algorithm, 'EC_SIGN_P256_SHA256');
      assert.ok(!k.primary, `an asymmetric key has no primary, got ${show(k.primary)}`);
      // Cloud KMS may report PENDING_GENERATION first: wait, bounded.
      const v1 = `${k.name}/cryptoKeyVersions/1`;
      let v;
      for (let i = 0; i < 100; i++) {
        v = await t.call('getCryptoKeyVersion', { name: v1 });
        if (v.state !== 'PENDING_GENERATION') break;
        await sleep(100);
      }
      assert.equal(v.state, 'ENABLED');
      assert.equal(v.algorithm, 'EC_SIGN_P256_SHA256');
    });

    test('createCryptoKey MAC HMAC_SHA256', opts, async () => {
      const k = await t.call('createCryptoKey', {
        parent: ring,
        cryptoKeyId: 'mac',
        cryptoKey: { purpose: 'MAC', versionTemplate: { algorithm: 'HMAC_SHA256' } },
      });
      keys.mac = k.name;
      assert.equal(k.purpose, 'MAC');
      assert.equal(k.versionTemplate?.algorithm, 'HMAC_SHA256');
    });

    test('getCryptoKey', opts, async () => {
      const k = await t.call('getCryptoKey', { name: keys.sym });
      assert.equal(k.name, keys.sym);
      assert.equal(k.purpose, 'ENCRYPT_DECRYPT');
      assert.equal(k.primary?.name, `${keys.sym}/cryptoKeyVersions/1`);
      assert.ok(Number(k.createTime?.seconds) > 0);
    });

    test('updateCryptoKey with an updateMask of labels', opts, async () => {
      const labels = { team: 'node', transport: name };
      const k = await t.call('updateCryptoKey', {
        cryptoKey: { name: keys.sym, labels },
        updateMask: { paths: ['labels'] },
      });
      assert.deepEqual({ ...k.labels }, labels);
      assert.equal(k.purpose, 'ENCRYPT_DECRYPT');
      const got = await t.call('getCryptoKey', { name: keys.sym });
      assert.deepEqual({ ...got.labels }, labels);
      assert.equal(got.primary?.name, `${keys.sym}/cryptoKeyVersions/1`);
    });

    const plaintext = Buffer.from(`attack at dawn, from node over ${name}`);
    const aad = Buffer.from('context: node e2e');
    let ciphertextV1;

    test('encrypt and decrypt with additionalAuthenticatedData and CRC32C', opts, async () => {
      const enc = await t.call('encrypt', {
        name: keys.sym,
        plaintext,
        additionalAuthenticatedData: aad,
        plaintextCrc32c: { value: crc32c(plaintext) },
        additionalAuthenticatedDataCrc32c: { value: crc32c(aad) },
      });
      assert.equal(enc.name, `${keys.sym}/cryptoKeyVersions/1`);
      assert.equal(enc.verifiedPlaintextCrc32c, true);
      assert.equal(enc.verifiedAdditionalAuthenticatedDataCrc32c, true);
      assert.ok(enc.ciphertext.length > plaintext.length);
      assert.equal(int64(enc.ciphertextCrc32c), crc32c(enc.ciphertext));
      assert.equal(enc.protectionLevel, 'SOFTWARE');
      ciphertextV1 = Buffer.from(enc.ciphertext);

      const dec = await t.call('decrypt', {
        name: keys.sym,
        ciphertext: ciphertextV1,
        additionalAuthenticatedData: aad,
        ciphertextCrc32c: { value: crc32c(ciphertextV1) },
        additionalAuthenticatedDataCrc32c: { value: crc32c(aad) },
      });
      assert.deepEqual(Buffer.from(dec.plaintext), plaintext);
      assert.equal(int64(dec.plaintextCrc32c), crc32c(plaintext));
      assert.equal(dec.usedPrimary, true);

      const err = await t.rejection('decrypt', {
        name: keys.sym,
        ciphertext: ciphertextV1,
        additionalAuthenticatedData: Buffer.from('another context'),
      });
      assert.equal(err.code, INVALID_ARGUMENT, `decrypt with another AAD: ${err.message}`);
    });

    test('encrypt with a wrong plaintextCrc32c is INVALID_ARGUMENT', opts, async () => {
      const err = await t.rejection('encrypt', {
        name: keys.sym,
        plaintext,
        plaintextCrc32c: { value: (crc32c(plaintext) ^ 1) >>> 0 },
      });
      assert.equal(err.code, INVALID_ARGUMENT, err.message);
    });

    test('createCryptoKeyVersion({parent}) as the samples call it', opts, async () => {
      let v;
      let failure;
      try {
        v = await t.call('createCryptoKeyVersion', { parent: keys.sym });
      } catch (err) {
        // Over REST an empty cryptoKeyVersion goes out as the body "" (see
        // createRing); create it with a non-empty one so that the
        // scenario goes on, and fail below.
        failure = err;
        v = await t.call('createCryptoKeyVersion', { parent: keys.sym, cryptoKeyVersion: { name: '' } });
      }
      assert.equal(v.name, `${keys.sym}/cryptoKeyVersions/2`);
      assert.equal(v.state, 'ENABLED');
      assert.equal(v.algorithm, 'GOOGLE_SYMMETRIC_ENCRYPTION');
      if (failure) throw failure;
    });

    test('updateCryptoKeyPrimaryVersion', opts, async () => {
      const k = await t.call('updateCryptoKeyPrimaryVersion', { name: keys.sym, cryptoKeyVersionId: '2' });
      assert.equal(k.primary?.name, `${keys.sym}/cryptoKeyVersions/2`);
      const enc = await t.call('encrypt', { name: keys.sym, plaintext });
      assert.equal(enc.name, `${keys.sym}/cryptoKeyVersions/2`);
      const dec = await t.call('decrypt', { name: keys.sym, ciphertext: ciphertextV1, additionalAuthenticatedData: aad });
      assert.deepEqual(Buffer.from(dec.plaintext), plaintext);
      assert.equal(dec.usedPrimary, false);
    });

    test('listCryptoKeyVersions through the async iterator', opts, async () => {
      const got = [];
      for await (const v of t.client.listCryptoKeyVersionsAsync({ parent: keys.sym })) {
        got.push([v.name, v.state]);
      }
      got.sort();
      assert.deepEqual(got, [
        [`${keys.sym}/cryptoKeyVersions/1`, 'ENABLED'],
        [`${keys.sym}/cryptoKeyVersions/2`, 'ENABLED'],
      ]);
      const listed = [];
      for await (const k of t.client.listCryptoKeysAsync({ parent: ring })) listed.push(k.name);
      assert.deepEqual(listed.sort(), [keys.ec, keys.mac, keys.sym].sort());
    });

    test('asymmetricSign a SHA-256 digest and verify it with node:crypto and getPublicKey', opts, async () => {
      const version = `${keys.ec}/cryptoKeyVersions/1`;
      const data = Buffer.from(`message signed over ${name}`);
      const digest = crypto.createHash('sha256').update(data).digest();
      const s = await t.call('asymmetricSign', {
        name: version,
        digest: { sha256: digest },
        digestCrc32c: { value: crc32c(digest) },
      });
      assert.equal(s.name, version);
      assert.equal(s.verifiedDigestCrc32c, true);
      assert.equal(int64(s.signatureCrc32c), crc32c(s.signature));
      const pk = await t.call('getPublicKey', { name: version });
      assert.equal(pk.algorithm, 'EC_SIGN_P256_SHA256');
      assert.match(pk.pem, /^-----BEGIN PUBLIC KEY-----\n/);
      assert.equal(int64(pk.pemCrc32c), crc32c(Buffer.from(pk.pem)));
      assert.equal(crypto.verify('sha256', data, pk.pem, Buffer.from(s.signature)), true,
        'node:crypto rejects the signature');
      assert.equal(crypto.verify('sha256', Buffer.from('another message'), pk.pem, Buffer.from(s.signature)), false);
    });

    test('macSign and macVerify', opts, async () => {
      const version = `${keys.mac}/cryptoKeyVersions/1`;
      const data = Buffer.from(`mac me over ${name}`);
      const m = await t.call('macSign', { name: version, data, dataCrc32c: { value: crc32c(data) } });
      assert.equal(m.name, version);
      assert.equal(m.verifiedDataCrc32c, true);
      assert.equal(m.mac.length, 32);
      assert.equal(int64(m.macCrc32c), crc32c(m.mac));
      const mac = Buffer.from(m.mac);
      const ok = await t.call('macVerify', {
        name: version,
        data,
        mac,
        dataCrc32c: { value: crc32c(data) },
        macCrc32c: { value: crc32c(mac) },
      });
      assert.equal(ok.success, true);
      assert.equal(ok.verifiedDataCrc32c, true);
      assert.equal(ok.verifiedMacCrc32c, true);
      assert.equal(ok.verifiedSuccessIntegrity, true);
      const bad = Buffer.from(mac);
      bad[0] ^= 1;
      const no = await t.call('macVerify', { name: version, data, mac: bad });
      assert.equal(no.success, false);
    });

    test('generateRandomBytes: 32 bytes, protectionLevel HSM', opts, async () => {
      const r = await t.call('generateRandomBytes', { location: t.location, lengthBytes: 32, protectionLevel: 'HSM' });
      assert.equal(r.data.length, 32);
      assert.equal(int64(r.dataCrc32c), crc32c(r.data));
      const again = await t.call('generateRandomBytes', { location: t.location, lengthBytes: 32, protectionLevel: 'HSM' });
      assert.notDeepEqual(Buffer.from(again.data), Buffer.from(r.data));
    });

    test('destroyCryptoKeyVersion and restoreCryptoKeyVersion', opts, async () => {
      const v1 = `${keys.sym}/cryptoKeyVersions/1`;
      const d = await t.call('destroyCryptoKeyVersion', { name: v1 });
      assert.equal(d.name, v1);
      assert.equal(d.state, 'DESTROY_SCHEDULED');
      assert.ok(Number(d.destroyTime?.seconds) > 0, `destroyTime ${show(d.destroyTime)}`);
      const r = await t.call('restoreCryptoKeyVersion', { name: v1 });
      assert.equal(r.state, 'DISABLED');
      assert.ok(!r.destroyTime, `destroyTime after restore: ${show(r.destroyTime)}`);
      const got = await t.call('getCryptoKeyVersion', { name: v1 });
      assert.equal(got.state, 'DISABLED');
    });

    test('getCryptoKey of a missing key is NOT_FOUND with the server\'s message', opts, async () => {
      const missing = `${ring}/cryptoKeys/missing`;
      const err = await t.rejection('getCryptoKey', { name: missing });
      assert.equal(err.code, NOT_FOUND, `code of ${err.message}`);
      if (name === 'grpc') {
        // grpc-js: message "5 NOT_FOUND: <details>", details = the server's text.
        assert.match(err.details, /not found/i);
        assert.ok(err.details.includes(missing), `details ${JSON.stringify(err.details)} name ${missing}`);
        assert.equal(err.httpStatusCode, undefined);
      } else {
        // google-gax REST: code from the envelope's "status", message is the
        // envelope's "message", httpStatusCode the HTTP status.
        assert.equal(err.httpStatusCode, 404);
        assert.match(err.message, /not found/i);
        assert.ok(err.message.includes(missing), `message ${JSON.stringify(err.message)} name ${missing}`);
      }
    });

    test('a wrong token is UNAUTHENTICATED', opts, async () => {
      const e = t.e;
      const client = name === 'grpc' ? grpcClient(e, 'custos_admin_wrong') : restClient(e, 'custos_admin_wrong');
      try {
        let resp;
        try {
          [resp] = await client.getKeyRing({ name: ring });
        } catch (err) {
          assert.equal(err.code, UNAUTHENTICATED, `code of ${err.message}`);
          if (name === 'rest') assert.equal(err.httpStatusCode, 401);
          return;
        }
        assert.fail(`getKeyRing with a wrong token succeeded: ${show(resp)}`);
      } finally {
        await client.close();
      }
    });
  });
}
