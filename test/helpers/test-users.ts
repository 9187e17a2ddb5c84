/**
 * The users the access tests run clients as (created by test/setup/users.ts); alice is in the team group, bob is not.
 * carol, not in the group either, runs the attack suite's well-behaved pair (npm run attack).
 */
export const ALICE = 'sockbus-alice';
export const BOB = 'sockbus-bob';
export const CAROL = 'sockbus-carol';
export const TEST_GROUP = 'sockbus-team';
export const TEST_USERS: Record<string, { inGroup: boolean }> = {
  [ALICE]: { inGroup: true },
  [BOB]: { inGroup: false },
  [CAROL]: { inGroup: false },
};
