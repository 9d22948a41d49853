import { describe, expect, it } from 'vitest';
import { uploadPackage } from '../../src/jobs/upload-package.ts';
import { createLogger } from '../../src/logger.ts';
import { useStepDeps } from '../support/fixtures.ts';

const ONBOARDING_ID = 'onb_89abcdef0123456789abcdef';

describe('upload step run twice at once', () => {
  const ctx = useStepDeps({ onboardingId: ONBOARDING_ID, userId: 'uploader' });

  it('keeps one package: the run that records second deletes its own', async () => {
    const run = { onboardingId: ONBOARDING_ID, log: createLogger('silent') };
    const [first, second] = await Promise.all([
      uploadPackage(ctx.deps, run),
      uploadPackage(ctx.deps, run),
    ]);

    const uploads = ctx.sandbox.fivetran.requests.filter(
      (request) => request.route === 'upload-package' && request.acted,
    );
    expect(uploads).toHaveLength(2);
    expect(first.packageId).toBe(second.packageId);
    expect([...ctx.sandbox.fivetran.packages.keys()]).toEqual([
      first.packageId,
    ]);
    expect((await ctx.deps.store.get(ONBOARDING_ID))?.packageId).toBe(
      first.packageId,
    );
  });
});
