export interface ConnectCardMessageInput {
  onboardingId: string;
  to: string;
  name: string | undefined;
  connectCardUri: string;
}

export interface RenderedMessage {
  subject: string;
  text: string;
  html: string;
}

export function renderConnectCardMessage(
  input: ConnectCardMessageInput,
): RenderedMessage {
  const greeting = input.name ? `Hi ${input.name},` : 'Hello,';
  const subject = 'Connect your data source';
  const text = [
    greeting,
    '',
    'Your data connection is ready for your credentials. Open the link',
    'below and enter them on Fivetran’s secure form; we never see them.',
    '',
    input.connectCardUri,
    '',
    'The link is valid for one day.',
  ].join('\n');
  const html = [
    '<!doctype html>',
    '<html><body>',
    `<p>${escapeHtml(greeting)}</p>`,
    '<p>Your data connection is ready for your credentials. Open the link',
    'below and enter them on Fivetran’s secure form; we never see them.</p>',
    `<p><a href="${escapeHtml(input.connectCardUri)}">Connect your data source</a></p>`,
    '<p>The link is valid for one day.</p>',
    '</body></html>',
  ].join('\n');
  return { subject, text, html };
}

function escapeHtml(value: string): string {
  return value
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}
