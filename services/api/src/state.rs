//! What the HTTP handlers share: the control plane, and how cookies are set.

use catalog::Catalog;

#[derive(Debug, Clone)]
pub struct ApiOptions {
    /// Mark the session cookie `Secure` (browsers still send it to
    /// http://localhost). Default true.
    pub secure_cookies: bool,
}

impl Default for ApiOptions {
    fn default() -> Self {
        ApiOptions { secure_cookies: true }
    }
}

#[derive(Debug, Clone)]
pub struct ApiState {
    catalog: Catalog,
    options: ApiOptions,
}

impl ApiState {
    pub fn new(catalog: Catalog, options: ApiOptions) -> Self {
        Self { catalog, options }
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn http_options(&self) -> &ApiOptions {
        &self.options
    }
}

/// The handlers call the catalog's methods on the state directly.
impl std::ops::Deref for ApiState {
    type Target = Catalog;

    fn deref(&self) -> &Catalog {
        &self.catalog
    }
}
