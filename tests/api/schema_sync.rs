//! `schema.graphql` is generated, never typed: it must equal what the server serves.

#[test]
fn committed_schema_graphql_equals_the_served_sdl() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect("schema.graphql exists at the repository root");
    let served = authql::graphql::schema::sdl();
    assert!(
        committed == served,
        "schema.graphql is out of date: run `cargo run -- schema > schema.graphql`"
    );
}
