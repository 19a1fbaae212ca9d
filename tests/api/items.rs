//! Items: ownership, exact prices, partial updates, the `owner` field rule, search.

use serde_json::{Value, json};

use crate::helpers::*;

const UPDATE_ITEM: &str = "mutation($id: ID!, $input: UpdateItemInput!) { updateItem(id: $id, input: $input) { id name description price updatedAt } }";
const DELETE_ITEM: &str = "mutation($id: ID!) { deleteItem(id: $id) }";

async fn setup() -> (TestApp, Session, Session, String) {
    let app = TestApp::spawn().await;
    let admin = app.admin("root").await;
    let owner = app.signup("alice").await;
    let store = app.store(&admin, "Shop").await;
    (app, admin, owner, store)
}

fn create(store: &str, name: &str, price: Value) -> Value {
    json!({ "input": { "storeId": store, "name": name, "price": price } })
}

#[tokio::test]
async fn create_item_needs_a_token_and_makes_the_caller_the_owner() {
    let (app, _admin, owner, store) = setup().await;
    let body = app
        .gql(CREATE_ITEM, create(&store, "Apple", json!("1.50")))
        .await;
    assert_code(&body, "AUTHORIZATION_REQUIRED");
    let body = app
        .gql_as(
            &owner.access,
            "mutation($input: CreateItemInput!) { createItem(input: $input) { name price description owner { id username } store { name } } }",
            json!({ "input": { "storeId": store, "name": "  Apple ", "price": "1.5", "description": "Crisp" } }),
        )
        .await;
    let item = &body["data"]["createItem"];
    assert_eq!(item["name"], "Apple", "{body}");
    assert_eq!(item["price"], "1.50");
    assert_eq!(item["description"], "Crisp");
    assert_eq!(item["owner"]["id"], json!(owner.user_id));
    assert_eq!(item["store"]["name"], "Shop");
}

#[tokio::test]
async fn prices_are_exact_from_request_to_database_and_back() {
    let (app, _admin, owner, store) = setup().await;
    let cases = [
        (json!("0.10"), "0.10"),
        (json!("0.20"), "0.20"),
        (json!(0.1), "0.10"),
        (json!("12.5"), "12.50"),
        (json!("1.230"), "1.23"),
        (json!(7), "7.00"),
        (json!("0"), "0.00"),
        (json!("1000000000"), "1000000000.00"),
        (json!("999999999.99"), "999999999.99"),
    ];
    for (i, (price, expected)) in cases.iter().enumerate() {
        let body = app
            .gql_as(
                &owner.access,
                CREATE_ITEM,
                create(&store, &format!("item{i}"), price.clone()),
            )
            .await;
        assert_eq!(
            body["data"]["createItem"]["price"], *expected,
            "{price} → {body}"
        );
    }
    // Read back from the database through a fresh query.
    let body = app
        .gql("{ items(first: 100) { nodes { name price } } }", json!({}))
        .await;
    let prices: Vec<&str> = body["data"]["items"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["price"].as_str().unwrap())
        .collect();
    assert_eq!(prices, cases.iter().map(|(_, e)| *e).collect::<Vec<_>>());
    // 0.10 + 0.20 is stored as cents: exactly 30.
    use sea_orm::{ConnectionTrait, Statement};
    let db = sea_orm::Database::connect(&app.database_url).await.unwrap();
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT CAST(SUM(price_cents) AS BIGINT) AS s FROM items WHERE name IN ('item0', 'item1')",
        ))
        .await
        .unwrap()
        .unwrap();
    let sum: i64 = row.try_get("", "s").unwrap();
    assert_eq!(sum, 30);
}

#[tokio::test]
async fn bad_prices_and_names_are_refused_naming_the_field_and_write_nothing() {
    let (app, _admin, owner, store) = setup().await;
    for (price, why) in [
        (json!("1.234"), "three places"),
        (json!("-0.01"), "negative"),
        (json!("1000000000.01"), "too large"),
        (json!("abc"), "not a number"),
        (json!("1e3"), "exponent"),
        (json!(""), "empty"),
        (json!(true), "boolean"),
        (json!("NaN"), "nan"),
    ] {
        let body = app
            .gql_as(
                &owner.access,
                CREATE_ITEM,
                create(&store, "Thing", price.clone()),
            )
            .await;
        assert_code(&body, "BAD_USER_INPUT");
        assert_eq!(
            body["errors"][0]["extensions"]["field"], "price",
            "{why}: {body}"
        );
    }
    for (name, field) in [
        ("", "name"),
        ("   ", "name"),
        (&"n".repeat(81) as &str, "name"),
    ] {
        let body = app
            .gql_as(&owner.access, CREATE_ITEM, create(&store, name, json!("1")))
            .await;
        assert_code(&body, "BAD_USER_INPUT");
        assert_eq!(body["errors"][0]["extensions"]["field"], field);
    }
    let long = app
        .gql_as(
            &owner.access,
            CREATE_ITEM,
            json!({ "input": { "storeId": store, "name": "Thing", "price": "1", "description": "d".repeat(2001) } }),
        )
        .await;
    assert_code(&long, "BAD_USER_INPUT");
    assert_eq!(long["errors"][0]["extensions"]["field"], "description");
    let unknown_store = app
        .gql_as(
            &owner.access,
            CREATE_ITEM,
            create("99999", "Thing", json!("1")),
        )
        .await;
    assert_code(&unknown_store, "NOT_FOUND");
    assert_eq!(count_rows(&app.database_url, "items").await, 0);
}

#[tokio::test]
async fn item_names_are_unique_within_a_store_ignoring_case() {
    let (app, admin, owner, store) = setup().await;
    let other = app.store(&admin, "Other").await;
    app.item(&owner, &store, "Apple", "1").await;
    let body = app
        .gql_as(
            &owner.access,
            CREATE_ITEM,
            create(&store, "APPLE", json!("1")),
        )
        .await;
    assert_code(&body, "BAD_USER_INPUT");
    assert_eq!(body["errors"][0]["extensions"]["field"], "name");
    app.item(&owner, &other, "apple", "1").await;
    assert_eq!(count_rows(&app.database_url, "items").await, 2);
}

#[tokio::test]
async fn update_item_changes_only_the_given_fields_and_null_clears_the_description() {
    let (app, _admin, owner, store) = setup().await;
    let id = app.item(&owner, &store, "Apple", "1.00").await;
    app.gql_as(
        &owner.access,
        UPDATE_ITEM,
        json!({ "id": id, "input": { "description": "Red" } }),
    )
    .await;
    let body = app
        .gql_as(
            &owner.access,
            UPDATE_ITEM,
            json!({ "id": id, "input": { "price": "2.5" } }),
        )
        .await;
    let item = &body["data"]["updateItem"];
    assert_eq!(item["name"], "Apple", "{body}");
    assert_eq!(item["price"], "2.50");
    assert_eq!(item["description"], "Red");
    let body = app
        .gql_as(
            &owner.access,
            UPDATE_ITEM,
            json!({ "id": id, "input": { "description": null } }),
        )
        .await;
    assert!(
        body["data"]["updateItem"]["description"].is_null(),
        "{body}"
    );
    assert_eq!(body["data"]["updateItem"]["price"], "2.50");
    let body = app
        .gql_as(
            &owner.access,
            UPDATE_ITEM,
            json!({ "id": id, "input": { "name": null } }),
        )
        .await;
    assert_code(&body, "BAD_USER_INPUT");
    let body = app
        .gql_as(
            &owner.access,
            UPDATE_ITEM,
            json!({ "id": id, "input": { "price": "0.001" } }),
        )
        .await;
    assert_code(&body, "BAD_USER_INPUT");
    let body = app
        .gql(
            "query($id: ID!) { item(id: $id) { price } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(body["data"]["item"]["price"], "2.50");
}

#[tokio::test]
async fn only_the_owner_or_an_admin_may_update_or_delete_an_item() {
    let (app, admin, owner, store) = setup().await;
    let bob = app.signup("bob").await;
    let id = app.item(&owner, &store, "Apple", "1.00").await;
    let body = app
        .gql_as(
            &bob.access,
            UPDATE_ITEM,
            json!({ "id": id, "input": { "name": "Mine" } }),
        )
        .await;
    assert_code(&body, "FORBIDDEN");
    assert_code(
        &app.gql_as(&bob.access, DELETE_ITEM, json!({ "id": id }))
            .await,
        "FORBIDDEN",
    );
    let body = app
        .gql_as(
            &admin.access,
            UPDATE_ITEM,
            json!({ "id": id, "input": { "name": "Admin's" } }),
        )
        .await;
    assert_eq!(body["data"]["updateItem"]["name"], "Admin's", "{body}");
    for id in ["99999", "nope"] {
        assert_code(
            &app.gql_as(&owner.access, UPDATE_ITEM, json!({ "id": id, "input": {} }))
                .await,
            "NOT_FOUND",
        );
        assert_code(
            &app.gql_as(&owner.access, DELETE_ITEM, json!({ "id": id }))
                .await,
            "NOT_FOUND",
        );
    }
    let body = app
        .gql_as(&owner.access, DELETE_ITEM, json!({ "id": id }))
        .await;
    assert_eq!(body["data"]["deleteItem"], json!(id), "{body}");
    assert_eq!(count_rows(&app.database_url, "items").await, 0);
}

#[tokio::test]
async fn delete_item_needs_a_fresh_token() {
    let (app, _admin, owner, store) = setup().await;
    let id = app.item(&owner, &store, "Apple", "1.00").await;
    let refreshed = Session::from_payload(
        &app.gql(REFRESH, json!({ "t": owner.refresh })).await["data"]["refresh"],
    )
    .unwrap();
    assert_code(
        &app.gql_as(&refreshed.access, DELETE_ITEM, json!({ "id": id }))
            .await,
        "FRESH_TOKEN_REQUIRED",
    );
    assert_eq!(count_rows(&app.database_url, "items").await, 1);
}

#[tokio::test]
async fn owner_is_null_with_authorization_required_while_the_rest_of_the_page_renders() {
    let (app, _admin, owner, store) = setup().await;
    app.item(&owner, &store, "Apple", "1.00").await;
    app.item(&owner, &store, "Pear", "2.00").await;
    let query = "{ items { totalCount nodes { name price owner { username } store { name } } } }";
    let body = app.gql(query, json!({})).await;
    let nodes = body["data"]["items"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"));
    assert_eq!(nodes.len(), 2);
    for node in nodes {
        // Present and null, as the GraphQL spec asks of a failed nullable field.
        assert_eq!(node.get("owner"), Some(&Value::Null), "{body}");
        assert_eq!(node["store"]["name"], "Shop");
    }
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2);
    for (i, error) in errors.iter().enumerate() {
        assert_eq!(error["extensions"]["code"], "AUTHORIZATION_REQUIRED");
        assert_eq!(error["path"], json!(["items", "nodes", i, "owner"]));
    }
    let body = app.gql_as(&owner.access, query, json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(
        body["data"]["items"]["nodes"][0]["owner"]["username"],
        "alice"
    );
}

#[tokio::test]
async fn email_through_item_owner_keeps_its_own_rule() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root").await;
    let alice = app
        .signup_with("alice", PASSWORD, Some("alice@example.com"))
        .await;
    let bob = app.signup("bob").await;
    let store = app.store(&admin, "Shop").await;
    app.item(&alice, &store, "Apple", "1").await;
    let query = "{ items { nodes { owner { username email } } } }";
    let body = app.gql_as(&bob.access, query, json!({})).await;
    assert_eq!(
        body["data"]["items"]["nodes"][0]["owner"]["username"],
        "alice"
    );
    let owner = &body["data"]["items"]["nodes"][0]["owner"];
    assert_eq!(owner.get("email"), Some(&Value::Null), "{body}");
    assert_code(&body, "FORBIDDEN");
    let body = app.gql_as(&alice.access, query, json!({})).await;
    assert_eq!(
        body["data"]["items"]["nodes"][0]["owner"]["email"],
        "alice@example.com"
    );
}

#[tokio::test]
async fn search_is_a_case_insensitive_substring_with_literal_wildcards() {
    let (app, _admin, owner, store) = setup().await;
    for name in [
        "Red Apple",
        "green apple",
        "100% Juice",
        "100 Juice",
        "snake_case",
        "snakeXcase",
        "Banana",
    ] {
        app.item(&owner, &store, name, "1").await;
    }
    let search = |term: &str| {
        let app = &app;
        let term = term.to_owned();
        async move {
            let body = app
                .gql(
                    "query($s: String) { items(search: $s) { totalCount nodes { name } } }",
                    json!({ "s": term }),
                )
                .await;
            let names: Vec<String> = body["data"]["items"]["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["name"].as_str().unwrap().to_owned())
                .collect();
            assert_eq!(body["data"]["items"]["totalCount"], names.len(), "{body}");
            names
        }
    };
    assert_eq!(search("APPLE").await, ["Red Apple", "green apple"]);
    assert_eq!(search("0%").await, ["100% Juice"]);
    assert_eq!(search("e_c").await, ["snake_case"]);
    assert_eq!(search("%").await, ["100% Juice"]);
    assert_eq!(search("_").await, ["snake_case"]);
    assert!(search("zzz").await.is_empty());
}

#[tokio::test]
async fn items_filter_by_store_and_total_count_follows_the_filters() {
    let (app, admin, owner, store) = setup().await;
    let other = app.store(&admin, "Other").await;
    app.item(&owner, &store, "Apple", "1").await;
    app.item(&owner, &store, "Apricot", "1").await;
    app.item(&owner, &other, "Avocado", "1").await;
    let query = "query($s: ID, $q: String) { items(storeId: $s, search: $q, first: 1) { totalCount nodes { name } pageInfo { hasNextPage } } }";
    let body = app.gql(query, json!({ "s": store })).await;
    assert_eq!(body["data"]["items"]["totalCount"], 2, "{body}");
    assert_eq!(body["data"]["items"]["pageInfo"]["hasNextPage"], true);
    let body = app.gql(query, json!({ "s": store, "q": "rico" })).await;
    assert_eq!(body["data"]["items"]["totalCount"], 1);
    let body = app.gql(query, json!({ "q": "a" })).await;
    assert_eq!(body["data"]["items"]["totalCount"], 3);
    let body = app.gql(query, json!({ "s": "99999" })).await;
    assert_eq!(body["data"]["items"]["totalCount"], 0);
}

#[tokio::test]
async fn delete_user_removes_their_items() {
    let (app, admin, owner, store) = setup().await;
    let bob = app.signup("bob").await;
    app.item(&owner, &store, "Apple", "1").await;
    app.item(&owner, &store, "Pear", "1").await;
    app.item(&bob, &store, "Plum", "1").await;
    let body = app
        .gql_as(
            &admin.access,
            "mutation($id: ID!) { deleteUser(id: $id) }",
            json!({ "id": owner.user_id }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(count_rows(&app.database_url, "items").await, 1);
}

#[tokio::test]
async fn five_hundred_concurrent_creates_leave_exactly_the_successes() {
    let (app, _admin, owner, store) = setup().await;
    let mut tasks = Vec::new();
    for i in 0..500 {
        let client = app.client.clone();
        let url = app.url("/graphql");
        let token = owner.access.clone();
        let variables = create(&store, &format!("item {}", i % 450), json!("1.25"));
        tasks.push(tokio::spawn(async move {
            let response = client
                .post(url)
                .bearer_auth(token)
                .json(&json!({ "query": CREATE_ITEM, "variables": variables }))
                .send()
                .await
                .unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        }));
    }
    let mut successes = 0;
    for task in tasks {
        let (status, body) = task.await.unwrap();
        assert_eq!(status, 200);
        if body["errors"].is_null() {
            successes += 1;
        } else {
            // 50 names repeat: exactly those fail, cleanly.
            assert_code(&body, "BAD_USER_INPUT");
        }
    }
    assert_eq!(successes, 450);
    assert_eq!(count_rows(&app.database_url, "items").await, successes);
}

/// The ownership guard reads the item, and the mutation acts on that row: one read of
/// the item per `updateItem` or `deleteItem`, not one by the guard and another by the
/// resolver.
#[tokio::test]
async fn an_item_mutation_reads_its_item_once() {
    let (app, _admin, alice, store) = setup().await;
    let id = app.item(&alice, &store, "Lamp", "1").await;
    let reads_of_the_item = |sql: &[String]| {
        sql.iter()
            .filter(|s| s.trim_start().starts_with("SELECT") && s.contains("FROM \"items\""))
            .count()
    };
    let before = app.sql_logged();
    let body = app
        .gql_as(
            &alice.access,
            "mutation($id: ID!) { updateItem(id: $id, input: {price: \"2\"}) { id price } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(body["data"]["updateItem"]["price"], "2.00", "{body}");
    assert_eq!(
        reads_of_the_item(&app.sql_since(before)),
        1,
        "{:#?}",
        app.sql_since(before)
    );
    let before = app.sql_logged();
    let body = app
        .gql_as(
            &alice.access,
            "mutation($id: ID!) { deleteItem(id: $id) }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(body["data"]["deleteItem"], json!(id), "{body}");
    assert_eq!(
        reads_of_the_item(&app.sql_since(before)),
        1,
        "{:#?}",
        app.sql_since(before)
    );
}
