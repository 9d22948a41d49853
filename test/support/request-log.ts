import type { SimRequest } from '../../src/sandbox/fivetran-simulator.ts';
import { maxInRollingWindow } from '../../src/sandbox/rolling-window.ts';

/** The most requests that arrived within any rolling window of windowMs. */
export function maxInAnyWindow(
  requests: SimRequest[],
  windowMs: number,
): number {
  return maxInRollingWindow(
    requests.map((request) => request.receivedAt),
    windowMs,
  );
}

export function countedRequests(requests: SimRequest[]): SimRequest[] {
  return requests.filter((request) => request.status !== 429);
}
