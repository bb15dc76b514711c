//! The web explorer: a browser front end to the API, served by the node itself.
//!
//! Its files (HTML, CSS, ES modules and the vendored libraries under `assets/explorer/vendor`)
//! are compiled into the binary, so a self-hosted node needs nothing besides itself and the
//! browser fetches nothing from another origin. There is no build step: the modules are served
//! as written.
//!
//! - `GET /` answers the page; the explorer's own routes are hash routes (`/#/c/{slug}`,
//!   `/#/a/{id}`, ...), so they never collide with the API or the ActivityPub paths.
//! - `GET /explorer/{file}` answers one embedded file.
//!
//! Every answer carries a Content-Security-Policy that allows only the node's own origin and no
//! framing, `X-Content-Type-Options: nosniff`, and an `ETag` (with `Cache-Control: no-cache`,
//! so a browser revalidates and gets `304 Not Modified` until the binary changes).

mod assets;
mod serve;

use actix_web::web;

/// Where the explorer's files are served.
pub const ASSET_PREFIX: &str = "/explorer";

/// Registers `/` and `/explorer/{file}`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/").get(serve::index).head(serve::index))
        .service(
            web::resource(format!("{ASSET_PREFIX}/{{file:.+}}"))
                .get(serve::asset)
                .head(serve::asset),
        );
}
