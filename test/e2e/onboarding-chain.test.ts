import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signup } from '../support/service.ts';
import { useSandboxService } from '../support/fixtures.ts';
import { waitFor } from '../support/wait-for.ts';

describe('onboarding chain', () => {
  const ctx = useSandboxService({ env: { CONNECTOR_PYTHON_VERSION: '3.13' } });

  it('turns a signup into one package, one connection and one email', async () => {
    const response = await ctx.service.postSignup(signup(1));
    expect(response.status).toBe(202);
    const { onboarding_id: onboardingId } = (await response.json()) as {
      onboarding_id: string;
    };

    const [mail] = await ctx.sandbox.smtp.waitForMessages(1, 15_000);
    const record = await waitFor(
      () => ctx.service.store.get(onboardingId),
      (found) => found?.state === 'email_sent',
    );

    const packages = [...ctx.sandbox.fivetran.packages.values()];
    expect(packages).toHaveLength(1);
    const uploaded = packages[0]!;
    expect(uploaded.bytes.equals(ctx.sandbox.packageZip)).toBe(true);
    expect(uploaded.file_sha256_hash).toBe(
      createHash('sha256').update(ctx.sandbox.packageZip).digest('hex'),
    );

    const connections = [...ctx.sandbox.fivetran.connections.values()];
    expect(connections).toHaveLength(1);
    const connection = connections[0]!;
    expect(uploaded.connection_id).toBe(connection.id);
    expect(connection.requestBody).toEqual({
      group_id: 'sandbox_group',
      service: 'connector_sdk',
      run_setup_tests: false,
      paused: true,
      destination_schema_names: 'FIVETRAN_NAMING',
      config: {
        schema: expect.stringMatching(/^ccw_[0-9a-f]{20}$/),
        package_id: uploaded.id,
        secrets_list: [
          { key: 'API_KEY', value: '' },
          { key: 'API_SECRET', value: '' },
        ],
        python_version: '3.13',
      },
      connect_card_config: {
        redirect_uri: `https://app.example.com/fivetran/return?onboarding=${onboardingId}`,
      },
    });

    expect(ctx.sandbox.smtp.messages).toHaveLength(1);
    expect(mail!.envelopeTo).toEqual(['user1@example.com']);
    expect(mail!.text).toContain('Hi User 1,');
    const redirect = `https://app.example.com/fivetran/return?onboarding=${onboardingId}`;
    const link = `https://fivetran.com/connect-card/setup?redirect_uri=${redirect}&auth=${connection.connect_card_token}`;
    expect(mail!.text).toContain(link);
    expect(mail!.html).toContain(link.replaceAll('&', '&amp;'));
    expect(record?.connectionId).toBe(connection.id);
    expect(record?.packageId).toBe(uploaded.id);
  });

  it('gives a repeated user the same onboarding and no second connection', async () => {
    const first = await ctx.service.postSignup(signup(2));
    const again = await ctx.service.postSignup(signup(2));
    const firstBody = (await first.json()) as Record<string, unknown>;
    const againBody = (await again.json()) as Record<string, unknown>;
    expect(again.status).toBe(202);
    expect(againBody.onboarding_id).toBe(firstBody.onboarding_id);
    expect(againBody.duplicate).toBe(true);

    await ctx.sandbox.smtp.waitForMessages(1, 15_000);
    const late = await ctx.service.postSignup(signup(2));
    expect(((await late.json()) as Record<string, unknown>).onboarding_id).toBe(
      firstBody.onboarding_id,
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(ctx.sandbox.fivetran.connections.size).toBe(1);
    expect(ctx.sandbox.fivetran.packages.size).toBe(1);
    expect(ctx.sandbox.smtp.messages).toHaveLength(1);
  });
});
