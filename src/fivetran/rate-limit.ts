/** A request budget: at most `max` requests in any rolling `windowMs`. */
export interface RateLimit {
  max: number;
  windowMs: number;
}

const UNIT_MS: Record<string, number> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Parses "N/duration" such as "20000/1h", "20/1m" or "600/90s". */
export function parseRateLimit(spec: string): RateLimit {
  const match = /^(\d+)\s*\/\s*(\d*)\s*([smh])$/.exec(spec.trim());
  if (!match) {
    throw new Error(
      `"${spec}" must be written N/duration, e.g. 20000/1h or 20/1m`,
    );
  }
  const max = Number(match[1]);
  const count = match[2] === '' ? 1 : Number(match[2]);
  const windowMs = count * (UNIT_MS[match[3] as string] as number);
  if (max < 1 || windowMs < 1) {
    throw new Error(`"${spec}" must allow at least 1 request per window`);
  }
  return { max, windowMs };
}

export function formatRateLimit(limit: RateLimit): string {
  return `${limit.max}/${limit.windowMs / 1000}s`;
}
