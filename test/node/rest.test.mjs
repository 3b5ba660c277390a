// SPDX-License-Identifier: Apache-2.0

// The official Node.js client over REST (fallback: true): see suite.mjs.
import { defineSuite } from './suite.mjs';

defineSuite('rest');
