//! Who is calling: the bearer security scheme.

use marquee_core::auth::Claims;
use poem::Request;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;

use crate::state::AppState;

/// `Authorization: Bearer <access token>`. A missing, malformed, expired,
/// wrongly signed or non-access token gets 401.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_access_token")]
pub struct BearerAuth(pub Claims);

async fn check_access_token(request: &Request, bearer: Bearer) -> Option<Claims> {
    request.data::<AppState>()?.tokens.verify(&bearer.token)
}
