import { createHash } from 'node:crypto';

function digest(userId: string): string {
  return createHash('sha256').update(`user:${userId}`).digest('hex');
}

/**
 * One onboarding per user, ever: the id is derived from the user id, so a
 * repeated event, a new event for the same user or a retried request all land
 * on the same record and the same job ids. It is a hash, so it is safe in
 * Redis keys and job ids (no colons) and does not leak the user id.
 */
export function onboardingIdFor(userId: string): string {
  return `onb_${digest(userId).slice(0, 24)}`;
}

/**
 * The destination schema, also the connection's permanent name. Derived from
 * the user, so a retry finds the connection an earlier attempt created.
 * Matches ^[_a-z][_a-z0-9]*$ for any prefix that does.
 */
export function schemaNameFor(prefix: string, userId: string): string {
  return `${prefix}_${digest(userId).slice(0, 20)}`;
}
