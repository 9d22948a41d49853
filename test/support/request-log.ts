import type { SimRequest } from '../../src/sandbox/fivetran-simulator.ts';

/** The most requests that arrived within any rolling window of windowMs. */
export function maxInAnyWindow(
  requests: SimRequest[],
  windowMs: number,
): number {
  const times = requests
    .map((request) => request.receivedAt)
    .sort((a, b) => a - b);
  let most = 0;
  let start = 0;
  for (let end = 0; end < times.length; end++) {
    while ((times[end] as number) - (times[start] as number) >= windowMs) {
      start++;
    }
    most = Math.max(most, end - start + 1);
  }
  return most;
}

export function countedRequests(requests: SimRequest[]): SimRequest[] {
  return requests.filter((request) => request.status !== 429);
}
