/**
 * The most arrivals in any rolling window of windowMs, counted as the
 * simulator (and Fivetran) judge a request at time t: over (t - windowMs, t].
 * The yardstick of tests and the benchmark for "never over the limit".
 */
export function maxInRollingWindow(times: number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  let start = 0;
  for (let end = 0; end < sorted.length; end++) {
    const at = sorted[end] as number;
    while ((sorted[start] as number) <= at - windowMs) start++;
    most = Math.max(most, end - start + 1);
  }
  return most;
}
