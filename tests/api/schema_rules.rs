//! Every field of the served schema is either guarded (its description says `Requires: …`,
//! written by the same `#[auth]` declaration that enforces it) or on the public allow-list
//! kept next to the schema.

use authql::graphql::public_fields::PUBLIC_FIELDS;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn every_field_is_guarded_or_explicitly_public() {
    let app = TestApp::spawn().await;
    let body = app
        .gql(
            "{ __schema { types { name kind fields { name description } } } }",
            json!({}),
        )
        .await;
    let mut unguarded = Vec::new();
    let mut seen = Vec::new();
    for ty in body["data"]["__schema"]["types"].as_array().unwrap() {
        let name = ty["name"].as_str().unwrap();
        if ty["kind"] != "OBJECT" || name.starts_with("__") {
            continue;
        }
        for field in ty["fields"].as_array().unwrap() {
            let field_name = field["name"].as_str().unwrap();
            let key = format!("{name}.{field_name}");
            seen.push(key.clone());
            let guarded = field["description"]
                .as_str()
                .is_some_and(|d| d.contains("Requires: "));
            let public = PUBLIC_FIELDS.contains(&key.as_str())
                || PUBLIC_FIELDS.contains(&format!("{name}.*").as_str());
            assert!(
                !(guarded && public),
                "{key} is both guarded and on the public list"
            );
            if !guarded && !public {
                unguarded.push(key);
            }
        }
    }
    assert!(unguarded.is_empty(), "fields with no rule: {unguarded:?}");
    for entry in PUBLIC_FIELDS {
        let known = match entry.strip_suffix(".*") {
            Some(ty) => seen.iter().any(|k| k.starts_with(&format!("{ty}."))),
            None => seen.iter().any(|k| k == entry),
        };
        assert!(known, "stale public entry {entry}");
    }
}

#[test]
fn guarded_fields_show_their_rule_in_the_sdl() {
    let sdl = authql::graphql::schema::sdl();
    for (ty, field, rule) in [
        (
            "type Query",
            "me: User!",
            "Requires: an authenticated caller, before the second factor too (a partial login).",
        ),
        ("type Query", "users(", "Requires: role ADMIN."),
        (
            "type Mutation",
            "deleteUser(",
            "Requires: the user themself or an ADMIN and a fresh token.",
        ),
        (
            "type Mutation",
            "deleteItem(",
            "Requires: the item's owner or an ADMIN and a fresh token.",
        ),
        (
            "type Item",
            "owner: User",
            "Requires: an authenticated caller.",
        ),
        (
            "type User",
            "email: String",
            "Requires: the user themself or an ADMIN.",
        ),
        (
            "type Mutation",
            "disableTotp(",
            "Requires: a second factor shown in this session (aal 2) and a fresh token.",
        ),
        (
            "type User",
            "mfaEnabled: Boolean",
            "Requires: the user themself (before the second factor too) or an ADMIN.",
        ),
    ] {
        let start = sdl
            .find(&format!("{ty} {{"))
            .unwrap_or_else(|| panic!("{ty} not in SDL"));
        let at = start
            + sdl[start..]
                .find(field)
                .unwrap_or_else(|| panic!("{field} not in {ty}"));
        let description = &sdl[..at];
        let last_block = description.rsplit("\"\"\"").nth(1).unwrap_or_default();
        assert!(last_block.contains(rule), "{field}: {last_block}");
    }
}

#[test]
fn descriptions_speak_to_api_users_not_to_rust_readers() {
    let sdl = authql::graphql::schema::sdl();
    for leak in [
        "API.md",
        "as_str",
        "DateTime<Utc>",
        "Self::",
        "Implement the",
        "crate::",
    ] {
        assert!(
            !sdl.contains(leak),
            "the schema's descriptions mention {leak:?}"
        );
    }
}

#[tokio::test]
async fn timestamps_are_rfc_3339_utc_with_milliseconds() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice").await;
    let body = app
        .gql_as(
            &alice.access,
            "{ me { createdAt } mySessions { createdAt lastUsedAt } }",
            json!({}),
        )
        .await;
    let stamps = [
        &body["data"]["me"]["createdAt"],
        &body["data"]["mySessions"][0]["createdAt"],
        &body["data"]["mySessions"][0]["lastUsedAt"],
    ];
    for stamp in stamps {
        let text = stamp.as_str().unwrap_or_else(|| panic!("{body}"));
        // 2026-11-29T05:41:20.825Z
        let shape: String = text
            .chars()
            .map(|c| if c.is_ascii_digit() { '9' } else { c })
            .collect();
        assert_eq!(shape, "9999-99-99T99:99:99.999Z", "{text}");
    }
}
