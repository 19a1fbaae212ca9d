//! GraphiQL, with the header editor enabled so a user can paste `Authorization: Bearer …`.
//!
//! Everything the page loads is compiled into the binary (`assets/graphiql/`, see its
//! README for the versions) and served from `/graphiql/{file}`: GraphiQL works with no
//! internet access, and the page's Content-Security-Policy allows this origin only.
//!
//! Asset URLs carry a hash of the file's content (`graphiql.min.<hash>.js`), computed once
//! at first use. A URL therefore always names the same bytes, so assets are cached for a
//! year as `immutable`, and a new build with changed assets gets new URLs (the page itself
//! is `no-cache`). An unknown or stale name is a 404, never other content under an old
//! URL that a browser would then keep for a year.

use std::{collections::HashMap, fmt::Write as _, sync::LazyLock};

use axum::{
    extract::{Path, State},
    http::{HeaderName, StatusCode, header},
    response::{IntoResponse, Response},
};
use sha2::{Digest, Sha256};

use super::HttpState;

/// Where the assets are served; the route is `/graphiql/{file}`.
const ASSET_PREFIX: &str = "/graphiql/";

/// The page template: each `{{name}}` is replaced by the served URL of asset `name`.
const TEMPLATE: &str = include_str!("../../assets/graphiql/index.html");

/// Scripts and styles from this origin only. Fonts and the (empty) favicon are `data:`
/// URLs; GraphiQL sets styles through the CSSOM, which `style-src` does not restrict, so
/// no `'unsafe-inline'` is needed for scripts or styles.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; font-src 'self' data:; img-src 'self' data:; connect-src 'self'; \
    base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// One embedded file.
struct Asset {
    /// The name in `assets/graphiql/` and in the template's `{{…}}`.
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

const ASSETS: [Asset; 6] = [
    Asset {
        name: "react.production.min.js",
        content_type: JS,
        bytes: include_bytes!("../../assets/graphiql/react.production.min.js"),
    },
    Asset {
        name: "react-dom.production.min.js",
        content_type: JS,
        bytes: include_bytes!("../../assets/graphiql/react-dom.production.min.js"),
    },
    Asset {
        name: "graphiql.min.js",
        content_type: JS,
        bytes: include_bytes!("../../assets/graphiql/graphiql.min.js"),
    },
    Asset {
        name: "graphiql-init.js",
        content_type: JS,
        bytes: include_bytes!("../../assets/graphiql/graphiql-init.js"),
    },
    Asset {
        name: "graphiql.min.css",
        content_type: CSS,
        bytes: include_bytes!("../../assets/graphiql/graphiql.min.css"),
    },
    Asset {
        name: "graphiql-page.css",
        content_type: CSS,
        bytes: include_bytes!("../../assets/graphiql/graphiql-page.css"),
    },
];

/// The rendered page and the assets by served (hashed) file name.
struct Served {
    page: String,
    assets: HashMap<String, &'static Asset>,
}

static SERVED: LazyLock<Served> = LazyLock::new(|| {
    let mut page = TEMPLATE.to_owned();
    let mut assets = HashMap::new();
    for asset in &ASSETS {
        let file = hashed_name(asset);
        page = page.replace(
            &format!("{{{{{}}}}}", asset.name),
            &format!("{ASSET_PREFIX}{file}"),
        );
        assets.insert(file, asset);
    }
    Served { page, assets }
});

/// `graphiql.min.js` → `graphiql.min.<16 hex digits of SHA-256>.js`.
fn hashed_name(asset: &Asset) -> String {
    let digest = Sha256::digest(asset.bytes);
    let hash = digest[..8].iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    });
    match asset.name.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}.{hash}.{ext}"),
        None => format!("{}.{hash}", asset.name),
    }
}

/// The GraphiQL page, or 404 when GraphiQL is off (production).
pub async fn page(State(app): State<HttpState>) -> Response {
    if !app.state.config.graphiql_enabled() {
        return StatusCode::NOT_FOUND.into_response();
    }
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // Revalidated every time, so a new build's asset URLs are picked up at once.
            (header::CACHE_CONTROL, "no-cache"),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        SERVED.page.as_str(),
    )
        .into_response()
}

/// `GET /graphiql/{file}`: an embedded script or stylesheet, by its hashed name; 404 for
/// any other name, or when GraphiQL is off.
pub async fn asset(State(app): State<HttpState>, Path(file): Path<String>) -> Response {
    if !app.state.config.graphiql_enabled() {
        return StatusCode::NOT_FOUND.into_response();
    }
    let Some(asset) = SERVED.assets.get(&file) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let headers: [(HeaderName, &str); 3] = [
        (header::CONTENT_TYPE, asset.content_type),
        (header::CACHE_CONTROL, IMMUTABLE),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    (headers, asset.bytes).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_links_every_asset_by_hashed_url_and_nothing_else() {
        let page = &SERVED.page;
        assert!(!page.contains("{{"), "unreplaced placeholder in {page}");
        assert!(!page.contains("http://") && !page.contains("https://"));
        assert_eq!(SERVED.assets.len(), ASSETS.len());
        for file in SERVED.assets.keys() {
            assert!(
                page.contains(&format!("\"{ASSET_PREFIX}{file}\"")),
                "{file} is not linked"
            );
        }
    }

    #[test]
    fn hashed_names_keep_the_extension() {
        let name = hashed_name(&ASSETS[2]);
        assert!(name.starts_with("graphiql.min.") && name.ends_with(".js"));
        assert_eq!(name.len(), "graphiql.min..js".len() + 16);
    }
}
