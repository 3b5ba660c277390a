// SPDX-License-Identifier: Apache-2.0

// Shared helpers for the Node.js client tests: how to point the official
// @google-cloud/kms client at a plain-text custos on loopback over gRPC and
// over REST, CRC32C, and a call wrapper that reports the request as sent.
//
// test/e2e/node_test.go starts the server and sets CUSTOS_GRPC (host:port),
// CUSTOS_REST (http://host:port) and CUSTOS_TOKEN (the admin bearer token).

import { KeyManagementServiceClient } from '@google-cloud/kms';
// The @grpc/grpc-js and google-auth-library that @google-cloud/kms itself
// uses, as re-exported by google-gax (package.json pins the same google-gax
// version that @google-cloud/kms resolves to, so there is one copy).
import { grpc, googleAuthLibrary } from 'google-gax';

export const TIMEOUT = 60000;

export function env() {
  const grpcAddr = process.env.CUSTOS_GRPC;
  const rest = process.env.CUSTOS_REST;
  const token = process.env.CUSTOS_TOKEN;
  if (!grpcAddr || !rest || !token) {
    throw new Error(
      'CUSTOS_GRPC, CUSTOS_REST and CUSTOS_TOKEN must be set: run these tests ' +
        'through `go test ./test/e2e/ -run TestNodeClient`, which starts a server');
  }
  const g = new URL('grpc://' + grpcAddr);
  const r = new URL(rest);
  for (const h of [g.hostname, r.hostname]) {
    if (h !== '127.0.0.1' && h !== 'localhost' && h !== '[::1]') {
      throw new Error(`these tests talk to loopback only, not ${h}`);
    }
  }
  return {
    token,
    grpc: { host: g.hostname, port: Number(g.port) },
    rest: { host: r.hostname, port: Number(r.port), protocol: r.protocol.replace(/:$/, '') },
  };
}

// bearerAuth is the auth client both transports use: google-auth-library's
// OAuth2Client holding a fixed access token (the documented way to bring
// your own token). Its getRequestHeaders() yields
// `authorization: Bearer <token>`, and its fetch() is what the REST
// transport sends every request through. It has no refresh token, so a 401
// is returned to the caller, not retried.
//
// Passing an authClient also matters on gRPC, where the token does not come
// from it (see grpcClient): without one, google-gax builds a GoogleAuth that
// looks for Application Default Credentials and may probe the GCE metadata
// server, which is not on loopback.
export function bearerAuth(token) {
  const auth = new googleAuthLibrary.OAuth2Client();
  auth.setCredentials({ access_token: token });
  return auth;
}

// grpcClient returns the official client over gRPC, plain text, to host:port.
//
// What works, and why:
// - `sslCreds: grpc.credentials.createInsecure()`: google-gax uses sslCreds
//   as the channel credentials as given, and then ignores the authClient
//   (GrpcClient._getCredentials returns sslCreds before it asks auth).
// - The token can not ride on the channel credentials:
//   `grpc.credentials.combineChannelCredentials(createInsecure(), callCreds)`
//   throws "Cannot compose insecure credentials" in @grpc/grpc-js.
// - grpc-js does accept per-call credentials on an insecure channel
//   (CallOptions.credentials). google-gax passes the client option
//   'grpc.callInvocationTransformer' to the grpc-js Client as
//   callInvocationTransformer (it strips the prefix for this key, which it
//   lists for grpc-gcp), and grpc-js calls it before every call: it sets
//   callOptions.credentials to call credentials built from the auth client's
//   getRequestHeaders(). So every call carries `authorization: Bearer T`
//   with no per-call option in the test code.
// - The per-call alternative also works: pass
//   `{ otherArgs: { headers: { authorization: 'Bearer ' + token } } }` as the
//   second argument of each method (google-gax merges otherArgs.headers into
//   the gRPC metadata).
export function grpcClient(e, token = e.token) {
  const auth = bearerAuth(token);
  const callCreds = grpc.credentials.createFromMetadataGenerator((_params, callback) => {
    auth.getRequestHeaders().then(
      headers => {
        const md = new grpc.Metadata();
        // google-auth-library 10+ returns a fetch Headers object.
        headers.forEach((value, key) => md.set(key, value));
        callback(null, md);
      },
      err => callback(err));
  });
  return new KeyManagementServiceClient({
    servicePath: e.grpc.host,
    port: e.grpc.port,
    sslCreds: grpc.credentials.createInsecure(),
    authClient: auth,
    'grpc.callInvocationTransformer': props => {
      props.callOptions = { ...props.callOptions, credentials: callCreds };
      return props;
    },
  });
}

// restClient returns the official client over REST (HTTP/1.1 + JSON), plain
// http, to host:port. `fallback: true` selects the REST transport (in
// google-gax 4+ any truthy value does; the old 'rest' string still works as
// a truthy value, 'proto' is gone). `protocol: 'http'` and `port` are read by
// google-gax's fallback createStub, which builds
// `${protocol}://${servicePath}:${port}/v1/...`. The auth client's fetch()
// adds the bearer token.
//
// sent (optional) receives every request as it leaves the client: method,
// URL and body (the token is not recorded).
export function restClient(e, token = e.token, sent = undefined) {
  const auth = bearerAuth(token);
  if (sent) {
    const fetch = auth.fetch.bind(auth);
    auth.fetch = (url, init = {}) => {
      let body = init.body;
      if (Buffer.isBuffer(body)) body = body.toString('utf8');
      sent.push({ method: init.method, url: String(url), body });
      return fetch(url, init);
    };
  }
  return new KeyManagementServiceClient({
    fallback: true,
    apiEndpoint: e.rest.host,
    port: e.rest.port,
    protocol: e.rest.protocol,
    authClient: auth,
  });
}

// transport bundles one client with what the assertions need to describe
// its requests.
export function transport(name) {
  const e = env();
  const sent = [];
  const client = name === 'grpc' ? grpcClient(e) : restClient(e, e.token, sent);
  const run = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
  return {
    name,
    e,
    client,
    sent,
    // Unique per transport and run: the two transports and reruns never meet.
    location: `projects/node-${name}-${run}/locations/global`,
    run,
    // call invokes client[method](req) and, on a rejection, throws an error
    // that names the transport, the method, the request as given and (REST)
    // the HTTP request as sent, and what came back.
    async call(method, req) {
      const before = sent.length;
      try {
        const [resp] = await client[method](req);
        return resp;
      } catch (err) {
        throw new CallError(name, method, req, sent.slice(before), err);
      }
    },
    // rejection returns the error of a call that must fail, with the HTTP
    // requests it sent (REST) in err.sentRequests.
    async rejection(method, req) {
      const before = sent.length;
      let resp;
      try {
        [resp] = await client[method](req);
      } catch (err) {
        err.sentRequests = sent.slice(before);
        return err;
      }
      throw new Error(`${name} ${method}(${show(req)}) succeeded with ${show(resp)}, want an error` +
        sentText(sent.slice(before)));
    },
  };
}

export class CallError extends Error {
  constructor(transportName, method, req, requests, cause) {
    super(`${transportName} ${method}(${show(req)}) rejected: code=${cause?.code} ` +
      `httpStatusCode=${cause?.httpStatusCode} message=${JSON.stringify(cause?.message)}` +
      sentText(requests));
    // The client's error itself is left out (its stack is google-gax's, and
    // node:test would print it in full): what it says is in the message.
    this.code = cause?.code;
    this.httpStatusCode = cause?.httpStatusCode;
  }
}

export function sentText(requests) {
  if (!requests || requests.length === 0) return '';
  return '\n  as sent: ' + requests.map(r => `${r.method} ${r.url} body=${JSON.stringify(r.body)}`).join('\n           ');
}

// show renders a request or response for a message: Buffers as base64.
export function show(v) {
  return JSON.stringify(v, (_k, x) => {
    if (x && x.type === 'Buffer' && Array.isArray(x.data)) return `base64:${Buffer.from(x.data).toString('base64')}`;
    if (x instanceof Uint8Array) return `base64:${Buffer.from(x).toString('base64')}`;
    return x;
  });
}

// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), table-driven.
const CRC32C_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32c(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC32C_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// int64 reads a google.protobuf.Int64Value as the client returns it (an
// object whose value is a decimal string, since longs are decoded as
// strings), or a bare number or string.
export function int64(v) {
  if (v === null || v === undefined) return undefined;
  if (typeof v === 'object' && 'value' in v) return Number(v.value);
  return Number(v);
}

export function sleep(ms) {
  return new Promise(resolve => setTimeout(resolve, ms));
}
