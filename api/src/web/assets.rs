//! Static files compiled into the binary: our CSS and JS, and vendored
//! third-party JS with its licence. Served at content-hashed paths
//! (`/assets/app.3f9c2a1b.css`) cached for a year as immutable: a new
//! release changes the path, never the content behind one.

use std::sync::LazyLock;

use poem::http::{StatusCode, header};
use poem::web::Path;
use poem::{IntoResponse, Response, handler};
use sha2::{Digest, Sha256};

use super::page::Web;

struct Asset {
    name: &'static str,
    bytes: &'static [u8],
    mime: &'static str,
    path: String,
}

/// Third-party code we ship, for the licences page.
struct Vendored {
    name: &'static str,
    version: &'static str,
    licence: &'static str,
    text: &'static str,
}

macro_rules! asset {
    ($name:literal, $file:literal, $mime:literal) => {
        (
            $name,
            include_bytes!(concat!("../../assets/", $file)).as_slice(),
            $mime,
        )
    };
}

static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    [
        asset!("app.css", "app.css", "text/css; charset=utf-8"),
        asset!("app.js", "app.js", "text/javascript; charset=utf-8"),
        asset!("favicon.svg", "favicon.svg", "image/svg+xml"),
        asset!("door.js", "door.js", "text/javascript; charset=utf-8"),
        asset!(
            "jsQR.js",
            "vendor/jsqr/jsQR.js",
            "text/javascript; charset=utf-8"
        ),
        asset!(
            "htmx.min.js",
            "vendor/htmx/htmx.min.js",
            "text/javascript; charset=utf-8"
        ),
        asset!(
            "sse.min.js",
            "vendor/htmx-ext-sse/sse.min.js",
            "text/javascript; charset=utf-8"
        ),
    ]
    .into_iter()
    .map(|(name, bytes, mime)| {
        let hash = hex::encode(&Sha256::digest(bytes)[..5]);
        let (stem, ext) = name.rsplit_once('.').expect("assets have an extension");
        Asset {
            name,
            bytes,
            mime,
            path: format!("/assets/{stem}.{hash}.{ext}"),
        }
    })
    .collect()
});

const VENDORED: &[Vendored] = &[
    Vendored {
        name: "htmx",
        version: "2.0.11",
        licence: "0BSD",
        text: include_str!("../../assets/vendor/htmx/LICENSE"),
    },
    Vendored {
        name: "jsQR",
        version: "1.4.0",
        licence: "Apache-2.0",
        text: include_str!("../../assets/vendor/jsqr/LICENSE"),
    },
    Vendored {
        name: "htmx-ext-sse",
        version: "2.2.4",
        licence: "0BSD",
        text: include_str!("../../assets/vendor/htmx-ext-sse/LICENSE"),
    },
];

/// The hashed path of the asset `name`.
pub fn path(name: &str) -> String {
    ASSETS
        .iter()
        .find(|a| a.name == name)
        .map(|a| a.path.clone())
        .unwrap_or_else(|| panic!("no asset named {name}"))
}

/// `GET /assets/:file`: only hashed paths exist.
#[handler]
pub fn serve(Path(file): Path<String>) -> Response {
    let wanted = format!("/assets/{file}");
    match ASSETS.iter().find(|a| a.path == wanted) {
        Some(asset) => Response::builder()
            .header(header::CONTENT_TYPE, asset.mime)
            .header(header::CACHE_CONTROL, "public, max-age=31536000, immutable")
            .body(asset.bytes),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `GET /licenses`: the third-party code in these pages and its licences.
#[handler]
pub fn licenses(web: Web) -> Response {
    let vendored: Vec<_> = VENDORED
        .iter()
        .map(|v| {
            minijinja::context! {
                name => v.name, version => v.version, licence => v.licence, text => v.text,
            }
        })
        .collect();
    web.page("licenses.html", minijinja::context! { vendored })
}
