//! The api stack: the management API and console over the catalog.

use axum::Router;

use super::Foundation;
use crate::error::ServerError;

/// The API's routes. A fresh database gets its first admin; the password
/// is printed once.
pub async fn router(foundation: &Foundation) -> Result<Router, ServerError> {
    if let Some((user, password)) = foundation.catalog.ensure_admin("admin").await? {
        println!("Console login: {} / {password} (shown once; change it)", user.username);
    }
    let options = api::ApiOptions { secure_cookies: foundation.config.http.secure_cookies };
    Ok(api::router(api::ApiState::new(foundation.catalog.clone(), options)))
}
