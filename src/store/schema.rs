//! Table definitions shared by both backends. Column types are the portable
//! subset: text ids, `Timestamp` (UTC, no zone), integers, binary.

diesel::table! {
    accounts (id) {
        id -> Text,
        name -> Text,
        plan -> Text,
        billing_cycle -> Text,
        seat_policy -> Text,
        seats_purchased -> Integer,
        currency -> Text,
        enterprise_seat_price_minor -> Nullable<BigInt>,
        period_start -> Timestamp,
        period_end -> Timestamp,
        trial_ends_at -> Timestamp,
        pending_seats -> Nullable<Integer>,
        pending_effective_at -> Nullable<Timestamp>,
        pending_requested_by -> Nullable<Text>,
        pending_requested_at -> Nullable<Timestamp>,
        event_seq -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        /// Bumped by a trigger with every change to the account's users.
        users_version -> BigInt,
        /// Kept by the same trigger: the account's users by status.
        active_users -> BigInt,
        inactive_users -> BigInt,
    }
}

diesel::table! {
    groups (id) {
        id -> Text,
        account_id -> Text,
        name -> Text,
        name_key -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        account_id -> Text,
        name -> Text,
        email -> Text,
        password_hash -> Text,
        group_id -> Nullable<Text>,
        role -> Text,
        permissions -> Text,
        status -> Text,
        search_text -> Text,
        version -> BigInt,
        tokens_valid_after -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        disabled_at -> Nullable<Timestamp>,
        access_role_id -> Nullable<Text>,
    }
}

diesel::table! {
    access_roles (id) {
        id -> Text,
        account_id -> Text,
        name -> Text,
        name_key -> Text,
        permissions -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    ledger_entries (id) {
        id -> BigInt,
        account_id -> Text,
        kind -> Text,
        actor -> Text,
        created_at -> Timestamp,
        seats_before -> Integer,
        seats_after -> Integer,
        plan_before -> Text,
        plan_after -> Text,
        amount_minor -> BigInt,
        currency -> Text,
        reason -> Text,
        user_id -> Nullable<Text>,
        effective_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    events (account_id, sequence) {
        account_id -> Text,
        sequence -> BigInt,
        event_type -> Text,
        created_at -> Timestamp,
        actor -> Text,
        user_id -> Nullable<Text>,
        target_user_id -> Nullable<Text>,
        job_id -> Nullable<Text>,
        seats_before -> Nullable<Integer>,
        seats_after -> Nullable<Integer>,
        amount_minor -> Nullable<BigInt>,
        moved -> Nullable<Text>,
        detail -> Text,
    }
}

diesel::table! {
    idempotency_keys (namespace, operation, request_id) {
        namespace -> Text,
        operation -> Text,
        request_id -> Text,
        fingerprint -> Text,
        response -> Binary,
        created_at -> Timestamp,
        subject_user_id -> Nullable<Text>,
    }
}

diesel::table! {
    work_records (id) {
        id -> BigInt,
        account_id -> Text,
        kind -> Text,
        external_id -> Text,
        owner_user_id -> Nullable<Text>,
        owner_is_former -> Bool,
        parent_kind -> Nullable<Text>,
        parent_external_id -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    record_moves (id) {
        id -> BigInt,
        account_id -> Text,
        kind -> Text,
        from_user_id -> Text,
        to_user_id -> Text,
        job_id -> Nullable<Text>,
        moved_at -> Timestamp,
        record_count -> BigInt,
        record_ids -> Text,
    }
}

diesel::table! {
    jobs (id) {
        id -> Text,
        account_id -> Text,
        kind -> Text,
        state -> Text,
        mode -> Text,
        targets -> Text,
        created_by -> Text,
        request_id -> Nullable<Text>,
        records_total -> BigInt,
        records_moved -> BigInt,
        moved -> Text,
        cancel_requested -> Bool,
        lease_owner -> Nullable<Text>,
        lease_expires_at -> Nullable<Timestamp>,
        error_message -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    job_users (job_id, position) {
        job_id -> Text,
        position -> Integer,
        user_id -> Text,
        outcome -> Text,
        reason -> Text,
        message -> Text,
        moved -> Text,
    }
}

diesel::joinable!(users -> accounts (account_id));
diesel::joinable!(groups -> accounts (account_id));
diesel::allow_tables_to_appear_in_same_query!(accounts, user_changes);
diesel::allow_tables_to_appear_in_same_query!(
    accounts,
    groups,
    users,
    ledger_entries,
    events,
    idempotency_keys
);

diesel::table! {
    /// Which users each change of an account's users touched, by the
    /// `users_version` it produced (kept by the triggers that bump it).
    user_changes (account_id, users_version, user_id) {
        account_id -> Text,
        users_version -> BigInt,
        user_id -> Text,
    }
}

diesel::table! {
    /// Removed users whose journal rows are yet to be pruned.
    removed_users (user_id) {
        user_id -> Text,
        removed_at -> Timestamp,
    }
}
diesel::table! {
    login_throttle (email) {
        email -> Text,
        failures -> BigInt,
        window_started_at -> Timestamp,
        locked_until -> Nullable<Timestamp>,
    }
}
