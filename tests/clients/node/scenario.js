#!/usr/bin/env node
// Roster's product scenario from Node, against a real server.
//
//   npm ci && node scenario.js 127.0.0.1:50051 "$TOKEN"   # or ROSTER_ADDR / ROSTER_TOKEN
//
// No code generation: @grpc/proto-loader reads ../../../proto/roster/v1/*.proto
// at run time. Rich errors (the grpc-status-details-bin trailer) are decoded
// with protobufjs and the google.rpc protos vendored in ../proto-deps.
//
// The token must be a service token with the scopes accounts:create,
// users:read, users:write and records:write (`roster token --service clients`
// mints one with every scope). Each run creates its own account with unique
// emails, so it can be repeated against the same server. Every answer is
// checked; the first wrong one stops the run with a non-zero exit.
'use strict';

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');

const PROTO_ROOT = path.resolve(__dirname, '../../../proto');
const PROTO_DEPS = path.resolve(__dirname, '../proto-deps');
const PASSWORD = 'correct horse 42';
const TIMEOUT_MS = 30000; // per call

// keepCase: fields as in the .proto (snake_case); enums as their names
// ("PLAN_BASE"); int64 as JS numbers (every amount here is far below 2^53);
// defaults: absent fields read as 0 / "" / [].
const LOAD_OPTIONS = { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true };

const packageDefinition = protoLoader.loadSync(
  ['roster/v1/user_management_service.proto', 'roster/v1/seats_service.proto'],
  { ...LOAD_OPTIONS, includeDirs: [PROTO_ROOT] },
);
const rosterV1 = grpc.loadPackageDefinition(packageDefinition).roster.v1;

// google.rpc.Status and its detail messages, for grpc-status-details-bin
// (keepCase: snake_case field names here too, e.g. field_violations).
const rpcRoot = new protobuf.Root().loadSync([
  path.join(PROTO_DEPS, 'google/rpc/status.proto'),
  path.join(PROTO_DEPS, 'google/rpc/error_details.proto'),
], { keepCase: true });
const RpcStatus = rpcRoot.lookupType('google.rpc.Status');

function step(text) {
  console.log(`  ok  ${text}`);
}

// The proration of docs/concepts.md: price x months x remaining days / days of the
// period, half-up, UTC calendar days (first day of the period = whole period).
function expectedCharge(priceMonthlyMinor, months, periodStart, periodEnd, now) {
  const day = (seconds) => Math.floor(seconds / 86400);
  const days = day(periodEnd.seconds) - day(periodStart.seconds);
  const remaining = day(periodEnd.seconds) - day(Math.floor(now / 1000));
  return Math.floor((2 * priceMonthlyMinor * months * remaining + days) / (2 * days));
}

function counts({ leads = 0, contacts = 0, customers = 0, tasks = 0, conversations = 0, notes = 0, companies = 0 } = {}) {
  return { leads, contacts, customers, tasks, conversations, notes, companies };
}

function effect(e) {
  return [e.active_before, e.active_after, e.seats_purchased_before, e.seats_purchased_after];
}

// Decodes the grpc-status-details-bin trailer of a failed call into the
// google.rpc.Status and its ErrorInfo / BadRequest details.
function richError(err) {
  const raw = err.metadata && err.metadata.get('grpc-status-details-bin');
  assert.ok(raw && raw.length === 1, `no grpc-status-details-bin trailer on ${err.code}`);
  const status = RpcStatus.decode(raw[0]);
  assert.equal(status.code, err.code, 'code in the trailer differs from the call status');
  assert.equal(status.message, err.details, 'message in the trailer differs from the call status');
  const out = { status, info: null, badRequest: null };
  for (const any of status.details) {
    const typeName = any.type_url.slice(any.type_url.lastIndexOf('/') + 1);
    const decoded = rpcRoot.lookupType(typeName).decode(any.value);
    const plain = rpcRoot.lookupType(typeName).toObject(decoded, { defaults: true });
    if (typeName === 'google.rpc.ErrorInfo') out.info = plain;
    if (typeName === 'google.rpc.BadRequest') out.badRequest = plain;
  }
  assert.ok(out.info, 'no google.rpc.ErrorInfo in the details');
  return out;
}

async function expectError(promise, code) {
  try {
    await promise;
  } catch (err) {
    assert.equal(err.code, code, `expected ${grpc.status[code]}, got ${grpc.status[err.code]}: ${err.details}`);
    return richError(err);
  }
  throw new assert.AssertionError({ message: `call succeeded, expected ${grpc.status[code]}` });
}

async function main() {
  const addr = process.argv[2] || process.env.ROSTER_ADDR || '127.0.0.1:50051';
  const token = process.argv[3] || process.env.ROSTER_TOKEN;
  if (!token) {
    console.error('usage: node scenario.js ADDRESS TOKEN  (or set ROSTER_ADDR and ROSTER_TOKEN)');
    process.exit(2);
  }
  const run = crypto.randomBytes(5).toString('hex');
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${token}`);

  const users = new rosterV1.UserManagementService(addr, grpc.credentials.createInsecure());
  const seats = new rosterV1.SeatsService(addr, grpc.credentials.createInsecure(), {
    channelOverride: users.getChannel(),
  });
  await new Promise((resolve, reject) =>
    users.waitForReady(Date.now() + TIMEOUT_MS, (err) => (err ? reject(err) : resolve())));
  console.log(`node scenario against ${addr} (run ${run})`);

  const call = (client, method, request) => new Promise((resolve, reject) => {
    client[method](request, md, { deadline: Date.now() + TIMEOUT_MS }, (err, resp) =>
      (err ? reject(err) : resolve(resp)));
  });
  const U = (method, request) => call(users, method, request);
  const usage = async (acc) => (await call(seats, 'GetSeatUsage', { account_id: acc })).usage;
  const recordCounts = async (acc, userId) =>
    (await U('CountWorkRecords', { account_id: acc, user_id: userId })).counts;
  const tab = async (acc, status) => {
    const resp = await U('ListUsers', { account_id: acc, status, page_size: 1000 });
    assert.equal(resp.next_page_token, '', 'one page expected');
    return resp.users.map((u) => u.id);
  };

  // 1. CreateAccount: Base plan, 3 seats, AUTO_EXPAND, first admin.
  const created = await U('CreateAccount', {
    name: `Acme ${run}`,
    plan: 'PLAN_BASE',
    seat_policy: 'SEAT_POLICY_AUTO_EXPAND',
    seats_purchased: 3,
    admin: { name: 'Ada Admin', email: `ada-${run}@example.com`, password: PASSWORD },
    request_id: `create-${run}`,
  });
  const { account, admin } = created;
  const acc = account.id;
  assert.ok(acc);
  assert.equal(account.name, `Acme ${run}`);
  assert.equal(account.plan, 'PLAN_BASE');
  assert.equal(account.billing_cycle, 'BILLING_CYCLE_MONTHLY');
  assert.equal(account.seat_policy, 'SEAT_POLICY_AUTO_EXPAND');
  assert.equal(account.seats_purchased, 3);
  assert.equal(account.currency, 'USD');
  assert.ok(account.seat_price_monthly_minor > 0);
  assert.equal(admin.account_id, acc);
  assert.equal(admin.role, 'ROLE_ADMIN');
  assert.equal(admin.status, 'USER_STATUS_ACTIVE');
  assert.equal(admin.email, `ada-${run}@example.com`);
  step(`CreateAccount: ${acc} plan BASE, 3 seats, AUTO_EXPAND, admin ${admin.id}`);

  // 2. AddUser x3. The admin holds one of the 3 seats, so the first two
  // members fit and the third is the first one over the purchased seats.
  const add = (name, requestId = '') => U('AddUser', {
    account_id: acc,
    name,
    email: `${name.split(' ')[0].toLowerCase()}-${run}@example.com`,
    password: PASSWORD,
    request_id: requestId,
  });

  const annResp = await add('Ann Lee', `add-ann-${run}`);
  const ann = annResp.user;
  assert.ok(ann.id);
  assert.equal(ann.account_id, acc);
  assert.equal(ann.status, 'USER_STATUS_ACTIVE');
  assert.equal(ann.role, 'ROLE_MEMBER');
  assert.equal(ann.email, `ann-${run}@example.com`);
  assert.deepEqual(effect(annResp.seat_effect), [1, 2, 3, 3]);
  assert.equal(annResp.seat_effect.charge_minor, 0);
  const retry = await add('Ann Lee', `add-ann-${run}`);
  assert.equal(retry.user.id, ann.id, 'the retry made another user');
  assert.deepEqual(retry.seat_effect, annResp.seat_effect);
  assert.equal((await usage(acc)).active_users, 2, 'the retry must not add a second user');
  step(`AddUser Ann (request_id) ${ann.id}; retried with the same request_id -> same id, 2 active`);

  const benResp = await add('Ben Ortiz');
  const ben = benResp.user;
  assert.deepEqual(effect(benResp.seat_effect), [2, 3, 3, 3]);
  assert.equal(benResp.seat_effect.charge_minor, 0);
  step(`AddUser Ben ${ben.id}: 3 of 3 seats used, no charge`);

  const charge = expectedCharge(account.seat_price_monthly_minor, 1, account.period_start, account.period_end, Date.now());
  const catResp = await add('Cat Novak');
  const cat = catResp.user;
  assert.deepEqual(effect(catResp.seat_effect), [3, 4, 3, 4]);
  assert.ok(catResp.seat_effect.charge_minor > 0);
  assert.equal(catResp.seat_effect.charge_minor, charge);
  assert.equal(catResp.seat_effect.currency, 'USD');
  step(`AddUser Cat ${cat.id}: over the 3 seats -> AUTO_EXPAND seats 3->4, charge ${catResp.seat_effect.charge_minor} USD minor`);

  // 3. A 4th AddUser: another seat bought.
  const danResp = await add('Dan Weiss');
  const dan = danResp.user;
  assert.deepEqual(effect(danResp.seat_effect), [4, 5, 4, 5]);
  assert.equal(danResp.seat_effect.charge_minor, charge);
  let u = await usage(acc);
  assert.deepEqual([u.seats_purchased, u.active_users, u.inactive_users, u.available_seats], [5, 5, 0, 0]);
  const ledger = (await call(seats, 'ListLedgerEntries', { account_id: acc })).entries;
  const expanded = ledger.filter((x) => x.user_id === cat.id || x.user_id === dan.id)
    .map((x) => [x.seats_before, x.seats_after, x.amount_minor, x.kind])
    .sort((a, b) => a[0] - b[0]);
  assert.deepEqual(expanded, [
    [3, 4, charge, 'LEDGER_ENTRY_KIND_SEAT_AUTO_EXPANDED'],
    [4, 5, charge, 'LEDGER_ENTRY_KIND_SEAT_AUTO_EXPANDED'],
  ]);
  step(`AddUser Dan ${dan.id}: seats 4->5, charge ${danResp.seat_effect.charge_minor}; ledger has both seat purchases`);

  // 4. RegisterWorkRecords for Ann: 2 leads, 1 contact, 3 tasks, a
  // conversation on lead-1 and a note.
  const rec = (kind, externalId, owner, parentKind, parent) => ({
    kind: `RECORD_KIND_${kind}`,
    external_id: externalId,
    owner_user_id: owner,
    ...(parentKind ? { parent_kind: `RECORD_KIND_${parentKind}`, parent_external_id: parent } : {}),
  });
  let reg = await U('RegisterWorkRecords', {
    account_id: acc,
    records: [
      rec('LEAD', 'lead-1', ann.id),
      rec('LEAD', 'lead-2', ann.id),
      rec('CONTACT', 'contact-1', ann.id),
      rec('TASK', 'task-1', ann.id),
      rec('TASK', 'task-2', ann.id),
      rec('TASK', 'task-3', ann.id),
      rec('CONVERSATION', 'chat-1', ann.id, 'LEAD', 'lead-1'),
      rec('NOTE', 'note-1', ann.id),
    ],
  });
  assert.deepEqual([reg.created, reg.updated], [8, 0]);
  const annAll = counts({ leads: 2, contacts: 1, tasks: 3, conversations: 1, notes: 1 });
  assert.deepEqual(await recordCounts(acc, ann.id), annAll);
  const chats = (await U('ListWorkRecords', { account_id: acc, user_id: ann.id, kind: 'RECORD_KIND_CONVERSATION' })).records;
  assert.deepEqual(chats.map((c) => [c.external_id, c.parent_kind, c.parent_external_id]),
    [['chat-1', 'RECORD_KIND_LEAD', 'lead-1']]);
  step('RegisterWorkRecords for Ann: 2 leads, 1 contact, 3 tasks, 1 conversation on lead-1, 1 note');

  // 5. The tabs.
  assert.deepEqual(await tab(acc, 'USER_STATUS_ACTIVE'), [admin.id, ann.id, ben.id, cat.id, dan.id]);
  assert.deepEqual(await tab(acc, 'USER_STATUS_INACTIVE'), []);
  step('ListUsers: Active tab has the 5 users in creation order, Inactive tab is empty');

  // 6. DisableUser Ann: tasks to Cat, everything else to Ben; the
  // conversation follows its lead, the note stays.
  const disabled = await U('DisableUser', {
    account_id: acc,
    user_id: ann.id,
    reassignment: { target_user_id: ben.id, by_kind: [{ kind: 'RECORD_KIND_TASK', target_user_id: cat.id }] },
    request_id: `disable-ann-${run}`,
  });
  assert.equal(disabled.user.id, ann.id);
  assert.equal(disabled.user.status, 'USER_STATUS_INACTIVE');
  assert.ok(disabled.user.disable_time, 'disable_time unset');
  assert.equal(disabled.job_id, '');
  assert.deepEqual(disabled.moved, counts({ leads: 2, contacts: 1, tasks: 3, conversations: 1 }));
  assert.deepEqual(effect(disabled.seat_effect), [5, 4, 5, 5]);
  assert.equal(disabled.seat_effect.charge_minor, 0);
  assert.deepEqual(await recordCounts(acc, ann.id), counts({ notes: 1 }));
  assert.deepEqual(await recordCounts(acc, ben.id), counts({ leads: 2, contacts: 1, conversations: 1 }));
  assert.deepEqual(await recordCounts(acc, cat.id), counts({ tasks: 3 }));
  assert.ok(!(await tab(acc, 'USER_STATUS_ACTIVE')).includes(ann.id), 'Ann still in the Active tab');
  assert.deepEqual(await tab(acc, 'USER_STATUS_INACTIVE'), [ann.id]);
  step('DisableUser Ann: moved 2 leads, 1 contact, 1 conversation to Ben and 3 tasks to Cat; '
    + 'note stays; seats stay 5; Ann only in the Inactive tab');

  // 7. ActivateUser Ann with restore_records: everything comes back.
  const activated = await U('ActivateUser', {
    account_id: acc, user_id: ann.id, restore_records: true, request_id: `activate-ann-${run}`,
  });
  assert.equal(activated.user.status, 'USER_STATUS_ACTIVE');
  assert.deepEqual(activated.restored, counts({ leads: 2, contacts: 1, tasks: 3, conversations: 1 }));
  assert.deepEqual(effect(activated.seat_effect), [4, 5, 5, 5]);
  assert.equal(activated.seat_effect.charge_minor, 0);
  assert.deepEqual(await recordCounts(acc, ann.id), annAll);
  assert.deepEqual(await recordCounts(acc, ben.id), counts());
  assert.deepEqual(await recordCounts(acc, cat.id), counts());
  assert.ok((await tab(acc, 'USER_STATUS_ACTIVE')).includes(ann.id));
  assert.deepEqual(await tab(acc, 'USER_STATUS_INACTIVE'), []);
  step('ActivateUser Ann (restore_records): 2 leads, 1 contact, 3 tasks, 1 conversation back; '
    + 'free seat reused, no charge');

  // 8. RemoveUser Ann: every kind she holds goes to Ben; the user is gone.
  const removed = await U('RemoveUser', {
    account_id: acc,
    user_id: ann.id,
    reassignment: { target_user_id: ben.id },
    request_id: `remove-ann-${run}`,
  });
  assert.equal(removed.user_id, ann.id);
  assert.equal(removed.job_id, '');
  assert.deepEqual(removed.moved, counts({ leads: 2, contacts: 1, tasks: 3, conversations: 1 }));
  assert.deepEqual(effect(removed.seat_effect), [5, 4, 5, 5]);
  assert.deepEqual(await recordCounts(acc, ben.id), counts({ leads: 2, contacts: 1, tasks: 3, conversations: 1 }));
  const gone = await expectError(U('GetUser', { account_id: acc, user_id: ann.id }), grpc.status.NOT_FOUND);
  assert.deepEqual([gone.info.reason, gone.info.domain], ['USER_NOT_FOUND', 'roster.v1']);
  step('RemoveUser Ann: 2 leads, 1 contact, 3 tasks, 1 conversation to Ben; GetUser -> NOT_FOUND (USER_NOT_FOUND)');

  // 9. GetSeatUsage: removing and disabling never lower seats_purchased.
  u = await usage(acc);
  assert.equal(u.account_id, acc);
  assert.equal(u.plan, 'PLAN_BASE');
  assert.deepEqual([u.seats_purchased, u.active_users, u.inactive_users, u.available_seats], [5, 4, 0, 1]);
  assert.equal(u.seat_price_monthly_minor, account.seat_price_monthly_minor);
  assert.equal(u.currency, 'USD');
  step('GetSeatUsage: 5 purchased, 4 active, 0 inactive, 1 available');

  // 10. BulkDisableUsers over Cat and Dan (records to Ben), streamed to the end.
  reg = await U('RegisterWorkRecords', {
    account_id: acc,
    records: [
      ...[0, 1, 2, 3, 4].map((i) => rec('LEAD', `dan-lead-${i}`, dan.id)),
      ...[0, 1, 2].map((i) => rec('CONTACT', `cat-contact-${i}`, cat.id)),
    ],
  });
  assert.deepEqual([reg.created, reg.updated], [8, 0]);
  const stream = users.BulkDisableUsers({
    account_id: acc,
    user_ids: [cat.id, dan.id],
    reassignment: { target_user_id: ben.id },
    request_id: `bulk-disable-${run}`,
  }, md, { deadline: Date.now() + 120000 });
  // QUEUED -> RUNNING -> an end state: never backwards.
  const stateRank = { JOB_STATE_QUEUED: 1, JOB_STATE_RUNNING: 2, JOB_STATE_SUCCEEDED: 3, JOB_STATE_FAILED: 3, JOB_STATE_CANCELLED: 3 };
  const updates = [];
  let final = null;
  for await (const msg of stream) {
    const up = msg.update;
    assert.equal(final, null, 'message after the final one');
    assert.ok(up.job_id && (updates.length === 0 || up.job_id === updates[0].job_id));
    if (updates.length) {
      const prev = updates[updates.length - 1];
      assert.ok(up.records_moved >= prev.records_moved, `records_moved went back: ${prev.records_moved} -> ${up.records_moved}`);
      assert.ok(up.percent_complete >= prev.percent_complete, `percent went back: ${prev.percent_complete} -> ${up.percent_complete}`);
      assert.ok(stateRank[up.state] >= stateRank[prev.state], `state went back: ${prev.state} -> ${up.state}`);
    }
    assert.ok(up.percent_complete >= 0 && up.percent_complete <= 100);
    updates.push(up);
    if (up.final) final = up;
  }
  assert.ok(updates.length && updates[0].job, 'the first message carries the whole job');
  assert.ok(final, 'the stream ended without final=true');
  const { job } = final;
  assert.equal(final.state, 'JOB_STATE_SUCCEEDED');
  assert.equal(job.state, 'JOB_STATE_SUCCEEDED');
  assert.equal(job.kind, 'JOB_KIND_BULK_DISABLE');
  assert.equal(job.request_id, `bulk-disable-${run}`);
  assert.deepEqual([final.records_total, final.records_moved, final.percent_complete], [8, 8, 100]);
  assert.deepEqual(job.moved, counts({ leads: 5, contacts: 3 }));
  assert.deepEqual(job.users.map((r) => [r.user_id, r.outcome]),
    [[cat.id, 'USER_OUTCOME_DONE'], [dan.id, 'USER_OUTCOME_DONE']]);
  assert.deepEqual(await recordCounts(acc, ben.id), counts({ leads: 7, contacts: 4, tasks: 3, conversations: 1 }));
  assert.deepEqual(await tab(acc, 'USER_STATUS_INACTIVE'), [cat.id, dan.id]);
  u = await usage(acc);
  assert.deepEqual([u.seats_purchased, u.active_users, u.inactive_users], [5, 2, 2]);
  const progress = updates.map((x) => `${x.state.slice(10)}:${x.records_moved}/${x.records_total}`).join(' ');
  step(`BulkDisableUsers Cat+Dan: job ${job.id}, ${updates.length} updates (${progress}), `
    + 'SUCCEEDED, 8 records moved to Ben, both in the Inactive tab');

  // 11. Rich errors from the grpc-status-details-bin trailer.
  const invalid = await expectError(
    U('AddUser', { account_id: acc, name: 'Eve', email: 'not-an-email', password: PASSWORD }),
    grpc.status.INVALID_ARGUMENT,
  );
  assert.equal(invalid.status.code, grpc.status.INVALID_ARGUMENT);
  assert.deepEqual([invalid.info.reason, invalid.info.domain], ['INVALID_ARGUMENT', 'roster.v1']);
  assert.ok(invalid.badRequest, 'no google.rpc.BadRequest');
  const violations = invalid.badRequest.field_violations;
  assert.deepEqual(violations.map((v) => v.field), ['email']);
  assert.ok(violations[0].description);
  step(`AddUser not-an-email: INVALID_ARGUMENT, ErrorInfo ${invalid.info.reason}@${invalid.info.domain}, `
    + `BadRequest email: ${violations[0].description}`);

  const taken = await expectError(
    U('AddUser', { account_id: acc, name: 'Ben Again', email: `  BEN-${run}@Example.COM `, password: PASSWORD }),
    grpc.status.ALREADY_EXISTS,
  );
  assert.deepEqual([taken.info.reason, taken.info.domain], ['EMAIL_TAKEN', 'roster.v1']);
  step("AddUser with Ben's email (other case, spaces): ALREADY_EXISTS, ErrorInfo EMAIL_TAKEN");

  users.close();
  seats.close();
  console.log('node scenario passed');
}

main().catch((err) => {
  console.error('node scenario FAILED:', err && err.stack ? err.stack : err);
  process.exit(1);
});
