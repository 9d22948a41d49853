import { beforeEach, describe, expect, it } from 'vitest';
import { emailConnectCard } from '../../src/jobs/email-connect-card.ts';
import { createLogger } from '../../src/logger.ts';
import { useStepDeps } from '../support/fixtures.ts';

const ONBOARDING_ID = 'onb_0123456789abcdef01234567';

describe('email step run twice at once', () => {
  const ctx = useStepDeps({ onboardingId: ONBOARDING_ID, userId: 'twice' });

  beforeEach(async () => {
    await ctx.deps.store.recordConnection(ONBOARDING_ID, {
      connectionId: 'conn_1',
      packageId: 'pkg_1',
      connectCardUri: 'https://fivetran.com/connect-card/setup?auth=t',
    });
  });

  it('sends one email: the second run waits for the first one’s claim', async () => {
    const run = { onboardingId: ONBOARDING_ID, log: createLogger('silent') };
    const outcomes = await Promise.allSettled([
      emailConnectCard(ctx.deps, run),
      emailConnectCard(ctx.deps, run),
    ]);

    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    const [refused] = outcomes.filter((o) => o.status === 'rejected');
    expect((refused as PromiseRejectedResult).reason).toMatchObject({
      code: 'EMAIL_SEND_IN_PROGRESS',
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(ctx.sandbox.smtp.messages).toHaveLength(1);

    // Once the claim is released, a late run finds the email recorded.
    const late = await emailConnectCard(ctx.deps, run);
    expect(late.alreadySent).toBe(true);
    expect(ctx.sandbox.smtp.messages).toHaveLength(1);
  });
});
