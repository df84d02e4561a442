// What every Node interop test needs, whatever the client: the binary, the
// time limit, bounded waits, a notification counter, the expected tool names
// and toolcount files. No SDK is imported here, so the TypeScript SDK 1.x
// harness (harness.mjs) and the v2 one (../node_v2/harness.mjs) share it.
// Every wait is bounded by TIMEOUT_MS; nothing sleeps and then asserts.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export const BIN = process.env.DMS_BIN;
if (!BIN) throw new Error("DMS_BIN must name the server binary");
export const TIMEOUT_MS = 30_000;

export function expectedNames(n) {
  return Array.from({ length: n }, (_, i) => ["echo", "calculator", "counter"][i] ?? `echo${i + 1}`);
}

/** Reject with `what` unless `promise` settles within TIMEOUT_MS. */
export async function bounded(what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), TIMEOUT_MS);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves once `predicate()` holds; `poke(listener)` registers a wake-up. */
export function until(what, predicate, subscribe) {
  return bounded(
    what,
    new Promise((resolve) => {
      const check = () => {
        if (predicate()) {
          resolve();
          return true;
        }
        return false;
      };
      if (!check()) subscribe(check);
    }),
  );
}

/** Counts notifications and lets a test wait for a count. */
export class Counter {
  count = 0;
  #listeners = [];
  bump() {
    this.count += 1;
    this.#listeners = this.#listeners.filter((check) => !check());
  }
  async waitFor(n) {
    await until(`${n} notifications`, () => this.count >= n, (check) => this.#listeners.push(check));
    return this.count;
  }
  /** Whether a notification beyond `seen` arrives within `quietMs`. */
  anotherWithin(seen, quietMs) {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), quietMs);
      const check = () => {
        if (this.count > seen) {
          clearTimeout(timer);
          resolve(true);
          return true;
        }
        return false;
      };
      if (!check()) this.#listeners.push(check);
    });
  }
}

export function toolcountFile(contents) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dms-ts-count-"));
  const file = path.join(dir, "toolcount");
  fs.writeFileSync(file, contents);
  return file;
}
