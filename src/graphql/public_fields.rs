//! The fields anyone may read without a token. Every other field of the schema must
//! declare its rule with `#[auth(…)]` (which shows as `Requires: …` in its description);
//! `tests/api/schema_rules.rs` walks the served schema and fails on a field that is neither.

/// `Type.field`, or `Type.*` for a type whose fields are all public.
pub const PUBLIC_FIELDS: &[&str] = &[
    "Query.store",
    "Query.stores",
    "Query.item",
    "Query.items",
    "Mutation.signup",
    "Mutation.login",
    // `refresh` authenticates with the refresh token it is given, not with a guard; so
    // does `logout` when it is given one, else it needs an access token (its body checks
    // which: a guard cannot say "this or that credential").
    "Mutation.refresh",
    "Mutation.logout",
    // Account recovery: the one-time token in the mail is the credential (API.md Password
    // reset and email verification); the request answers the same to anyone.
    "Mutation.requestPasswordReset",
    "Mutation.resetPassword",
    "Mutation.verifyEmail",
    "User.id",
    "User.username",
    "User.role",
    "User.createdAt",
    "User.items",
    "Store.*",
    "Item.id",
    "Item.name",
    "Item.description",
    "Item.price",
    "Item.store",
    "Item.createdAt",
    "Item.updatedAt",
    "AuthPayload.*",
    "PageInfo.*",
    "UserConnection.*",
    "UserEdge.*",
    "StoreConnection.*",
    "StoreEdge.*",
    "ItemConnection.*",
    "ItemEdge.*",
    "ItemEvent.*",
    // Reached only through `mySessions`, which is guarded.
    "Session.*",
    // Reached only through `enrollTotp` and `confirmTotp`, which are guarded.
    "TotpEnrollment.*",
    "MfaActivation.*",
    // Reached only through `auditEvents` (ADMIN).
    "AuthEvent.*",
    "AuthEventConnection.*",
    "AuthEventEdge.*",
];
