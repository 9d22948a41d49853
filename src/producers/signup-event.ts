import { z } from 'zod';

const MAX_ID_LENGTH = 256;

export const signupEventSchema = z.strictObject({
  event_id: z.string().trim().min(1, 'is required').max(MAX_ID_LENGTH),
  user: z.strictObject({
    id: z.string().trim().min(1, 'is required').max(MAX_ID_LENGTH),
    email: z.email('must be an email address').max(320),
    name: z.string().trim().min(1).max(200).optional(),
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
  const parsed = signupEventSchema.safeParse(body);
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
  const missing =
    issue.code === 'invalid_type' &&
    (issue as { input?: unknown }).input === undefined;
  return [
    {
      field: base || '(body)',
      message: missing
        ? 'is required'
        : issue.code === 'invalid_type'
          ? `must be ${issue.expected === 'object' ? 'an object' : `a ${issue.expected}`}`
          : issue.message,
    },
  ];
}
