//! The dashboard's page and its assets, embedded in the binary at build time (no CDN, no
//! files to ship: the page works offline). `uPlot` is vendored from npm by
//! `scripts/vendor-uplot.sh`. The page holds no data; the data is behind the API's auth.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// (name, content type, bytes) of every asset under `/dashboard/assets/`.
const ASSETS: [(&str, &str, &[u8]); 5] = [
    (
        "dashboard.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/dashboard/dashboard.js"),
    ),
    (
        "dashboard.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/dashboard/dashboard.css"),
    ),
    (
        "uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/dashboard/uPlot.iife.min.js"),
    ),
    (
        "uPlot.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/dashboard/uPlot.min.css"),
    ),
    (
        "uPlot.LICENSE",
        "text/plain; charset=utf-8",
        include_bytes!("../../assets/dashboard/uPlot.LICENSE"),
    ),
];

const PAGE: &[u8] = include_bytes!("../../assets/dashboard/index.html");

/// Scripts and styles from this origin only; uPlot sets element styles from script.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// `GET /dashboard`.
pub fn page(enabled: bool) -> Response {
    if !enabled {
        return (
            StatusCode::NOT_FOUND,
            "the dashboard is turned off ([dashboard] enabled = false)\n",
        )
            .into_response();
    }
    served("text/html; charset=utf-8", PAGE)
}

/// `GET /dashboard/assets/{name}`.
pub fn asset(name: &str) -> Response {
    match ASSETS.iter().find(|(file, _, _)| *file == name) {
        Some((_, content_type, bytes)) => served(content_type, bytes),
        None => (
            StatusCode::NOT_FOUND,
            format!("no dashboard asset `{name}`\n"),
        )
            .into_response(),
    }
}

fn served(content_type: &'static str, bytes: &'static [u8]) -> Response {
    let mut response = ([(header::CONTENT_TYPE, content_type)], bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Assets change with the binary: revalidate rather than serve a stale page after an upgrade.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
