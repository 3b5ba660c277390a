// SPDX-License-Identifier: Apache-2.0

// The official Node.js client over gRPC: see suite.mjs.
import { defineSuite } from './suite.mjs';

defineSuite('grpc');
