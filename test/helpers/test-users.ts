/** The users the access tests run clients as (created by test/setup/users.ts); alice is in the team group, bob is not. */
export const ALICE = 'sockbus-alice';
export const BOB = 'sockbus-bob';
export const TEST_GROUP = 'sockbus-team';
export const TEST_USERS: Record<string, { inGroup: boolean }> = { [ALICE]: { inGroup: true }, [BOB]: { inGroup: false } };
