import { z } from 'zod';

const MAX_ID_LENGTH = 256;

export const signupEventSchema = z.strictObject({
  event_id: z.string().trim().min(1, 'is required').max(MAX_ID_LENGTH),
  user: z.strictObject({
    // NFC: "café" typed two ways is one user, so one onboarding.
    id: z
      .string()
      .trim()
      .min(1, 'is required')
      .max(MAX_ID_LENGTH)
      .transform((id) => id.normalize('NFC')),
    email: z
      .email({
        pattern: z.regexes.unicodeEmail,
        error: 'must be an email address',
      })
      .max(320),
    // A blank name is no name: the greeting falls back to "Hello,".
    name: z
      .string()
      .trim()
      .max(200)
      .optional()
      .transform((name) => name || undefined),
  }),
});

export type SignupEvent = z.infer<typeof signupEventSchema>;

export interface FieldProblem {
  field: string;
  message: string;
}

export type SignupParse =
  { ok: true; event: SignupEvent } | { ok: false; problems: FieldProblem[] };

/** Validates a signup, naming every failing field. */
export function parseSignupEvent(body: unknown): SignupParse {
  // reportInput: tells a wrongly typed field from a missing one.
  const parsed = signupEventSchema.safeParse(body, { reportInput: true });
  if (parsed.success) return { ok: true, event: parsed.data };
  return {
    ok: false,
    problems: parsed.error.issues.flatMap((issue) => describeIssue(issue)),
  };
}

function describeIssue(issue: z.core.$ZodIssue): FieldProblem[] {
  const base = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({
      field: base ? `${base}.${key}` : key,
      message: 'is not a known field',
    }));
  }
  // JSON has no undefined: an undefined (or unreported) input was absent.
  const missing =
    issue.code === 'invalid_type' &&
    (issue as { input?: unknown }).input === undefined;
  return [
    {
      field: base || '(body)',
      message: missing
        ? 'is required'
        : issue.code === 'invalid_type'
          ? `must be ${article(issue.expected)} ${issue.expected}`
          : issue.message,
    },
  ];
}

function article(noun: string): string {
  return /^[aeiou]/.test(noun) ? 'an' : 'a';
}
