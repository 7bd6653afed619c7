//! Webdis's command API (`--api webdis`): `/COMMAND/arg/…[.ext]` over HTTP, its output formats,
//! its ACL and its configuration file.

pub mod md5;
pub mod msgpack;
