import { setTimeout as sleep } from 'node:timers/promises';

/** Polls `read` until `done` holds, or fails after timeoutMs. */
export async function waitFor<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 15_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = await read();
  while (!done(last)) {
    if (Date.now() > deadline) {
      throw new Error(
        `Condition not met within ${timeoutMs} ms; last value: ${JSON.stringify(last)}`,
      );
    }
    await sleep(intervalMs);
    last = await read();
  }
  return last;
}
