//! Integration routes (API.md "Integration"): Settings > Integrations > Desk of a Chat
//! portal, and the desk panel of each chat. Handlers translate; the integration
//! service (`madoguchi_integration::Integration`) decides, including who may do what.

mod chat_desk;
mod settings;

use crate::state::AppState;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(settings::router())
        .merge(chat_desk::router())
}

/// `{data: […]}`.
#[derive(Serialize, ToSchema)]
pub struct List<T> {
    pub data: Vec<T>,
}
